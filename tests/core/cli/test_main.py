"""The command line, run as users run it: ``python -m explorer`` in a subprocess."""

from __future__ import annotations

import os
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


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("compare", "--synthetic", "--projection", "bad"), "unknown projection"),
        (("compare", "--synthetic", "--num-features", "0"), "--num-features"),
        (("compare", "--synthetic", "--feature-map", "nope"), "unknown feature map"),
        (("compare", "--q", "missing.npy", "--k", "missing.npy"), "cannot read missing.npy"),
        (("compare", "--q", "missing.npy"), "--q needs --k"),
        (("compare",), "required"),
        (("sweep", "--num-features", "8,x"), "bad list"),
        (("sweep", "--seeds", "0"), "--seeds"),
        (("compare", "--synthetic", "--device", "tpu"), "unknown device"),
        (("frobnicate",), "invalid choice"),
    ],
)
def test_bad_arguments_one_line_exit_2(tmp_path, args, fragment):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("explorer: error:"), result.stderr
    assert fragment in lines[0] and "Traceback" not in result.stderr
