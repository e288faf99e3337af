"""``python -m explorer sweep``: a tidy CSV of every run, progress on stderr."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

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


def test_sweep_writes_tidy_csv(tmp_path):
    out = tmp_path / "sweep.csv"
    result = run(
        "sweep",
        "--feature-maps",
        "positive,trig",
        "--num-features",
        "8,16",
        "--seq-lens",
        "32",
        "--head-dims",
        "8",
        "--scales",
        "0.3",
        "--seeds",
        "2",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    err = result.stderr.splitlines()  # a log (not a terminal): lines with the time left
    assert err[-2].startswith("[8/8] ") and "(took " in err[-2]
    assert err[-1] == f"wrote {out}: 8 runs × {len(pd.read_csv(out).columns)} columns"
    quiet = run("sweep", "--num-features", "4", "--seq-lens", "16", "--seeds", "1", "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""  # the CSV went to stdout
    assert len(pd.read_csv(io.StringIO(quiet.stdout))) == 1
    table = pd.read_csv(out)
    assert len(table) == 8
    for column in (
        "feature_map",
        "projection",
        "num_features",
        "input_scale",
        "seq_len",
        "head_dim",
        "seed",
        "output_relative_error",
        "weights_relative_error",
        "uniform_baseline_error",
    ):
        assert column in table.columns
