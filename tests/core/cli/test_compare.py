"""``python -m explorer compare``: JSON, saved outputs, files in every format, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def test_every_comparison_reads_itself(tmp_path):
    # Text output opens with the skill against uniform attention and the regime; the JSON
    # carries the same numbers; --save refuses a name without .npz instead of adding one.
    small = ["compare", "--synthetic", "--seq-len", "64", "--head-dim", "16"]
    text = run(*small, "--num-features", "32")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("reading: skill ") and "uniform attention" in lines[0]
    assert lines[1].startswith("regime:  ") and "mean |x+y|²" in lines[1]
    data = json.loads(run(*small, "--num-features", "32", "--json").stdout)
    error, baseline = data["output_relative_error"], data["uniform_baseline_error"]
    assert data["skill"] == pytest.approx(1 - error / baseline)
    assert data["regime"] in ("mild", "moderate", "hard")
    hard = json.loads(run(*small, "--scale", "1.5", "--json").stdout)
    assert hard["regime"] == "hard" and hard["mean_pair_sq_sum"] > 3
    refused = run(*small, "--save", str(tmp_path / "out.txt"))
    assert refused.returncode == 2 and "--save must end in .npz" in refused.stderr
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "out.txt.npz").exists()


def test_compare_takes_a_peers_recipe():
    args = ("compare", "--synthetic", "--seq-len", "32", "--head-dim", "8", "--json")
    peer = run(*args, "--recipe", "performer_pytorch", "--num-features", "16")
    assert peer.returncode == 0, peer.stderr
    out = json.loads(peer.stdout)
    assert out["recipe"] == "performer_pytorch" and out["config"]["recipe"] == "performer_pytorch"
    assert "performer-pytorch" in out["estimates"] and not out["unbiased_for_softmax"]
    own = json.loads(run(*args, "--num-features", "16").stdout)
    assert own["recipe"] == "explorer"
    assert own["output_relative_error"] != out["output_relative_error"]
    wrong = run(*args, "--recipe", "nope")
    assert wrong.returncode != 0 and "invalid choice" in wrong.stderr


def test_compare_with_the_learned_map_reports_its_fit():
    sample = ROOT / "explorer" / "inputs" / "data" / "minilm_sample.safetensors"
    result = run("compare", "--input", str(sample), "--layer", "5", "--head", "0",
                 "--feature-map", "hedgehog", "--num-features", "16", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    fit = summary["fit"]
    assert fit["steps"] > 0 and fit["feature_dim"] == 32 and fit["seconds"] > 0
    assert fit["fit_rows"] == 32 and fit["held_out_rows"] == summary["rows_evaluated"] == 31
    assert "held-out odd rows" in fit["rows"] and fit["held_out_loss"][1] < fit["held_out_loss"][0]
    assert not summary["unbiased_for_softmax"]
    plain = run("compare", "--input", str(sample), "--layer", "5", "--head", "0", "--json")
    assert json.loads(plain.stdout)["fit"] is None
