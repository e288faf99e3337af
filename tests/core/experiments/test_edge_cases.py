"""Degenerate and extreme inputs: a result or a clear message, never a NaN shown as a number."""

from __future__ import annotations

import math
from dataclasses import fields, replace

import numpy as np
import pytest

from explorer.experiments.compare import Comparison, ExperimentConfig, compare
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.kernels.feature_maps import FEATURE_MAPS

BASE = ExperimentConfig(seq_len=64, head_dim=16, num_features=32, device="cpu")


def assert_no_nan(result: Comparison) -> None:
    for f in fields(result.metrics):
        value = getattr(result.metrics, f.name)
        if isinstance(value, float):
            assert not math.isnan(value), f.name
        elif isinstance(value, np.ndarray):
            assert not np.isnan(value).any(), f.name
    for array in (result.exact_output, result.approx_output, result.maps.exact, result.maps.approx):
        assert array is None or np.isfinite(array).all()


@pytest.mark.parametrize("name", list(FEATURE_MAPS))
def test_huge_norms(name):
    # σ = 10 at d = 16: |x|² ≈ 400, far beyond any estimator; rows whose normaliser underflows
    # are counted (small_rows) and zeroed, never NaN.
    result = compare(replace(BASE, input_scale=10.0, feature_map=name))
    assert_no_nan(result)


@pytest.mark.parametrize(
    "changes",
    [
        {"seq_len": 1},
        {"seq_len": 1, "causal": True},
        {"head_dim": 1},
        {"num_features": 1},
        {"num_features": 1, "feature_map": "trig"},
        {"dtype": "float16"},
        {"dtype": "bfloat16"},
        {"dtype": "float16", "feature_map": "oprf", "causal": True},
    ],
)
def test_tiny_sizes_and_half_precision(changes):
    result = compare(replace(BASE, **changes))
    assert_no_nan(result)
    if changes.get("seq_len") == 1:  # one key: attention is exactly 1, every map is exact
        assert result.metrics.output_relative_error < 1e-5


def test_constant_zero_and_degenerate_inputs():
    rng = np.random.default_rng(0)
    ones = np.ones((1, 16, 8))
    constant = compare(BASE, AttentionInputs(ones, ones, ones))
    assert constant.metrics.output_relative_error < 1e-5  # uniform attention, exact
    zero_v = compare(
        BASE,
        AttentionInputs(
            rng.normal(size=(1, 16, 8)), rng.normal(size=(1, 16, 8)), np.zeros((1, 16, 4))
        ),
    )
    assert zero_v.metrics.output_relative_error == 0.0  # 0 output, 0 error: not 0/0
    zero_qk = AttentionInputs(
        np.zeros((1, 16, 8)), np.zeros((1, 16, 8)), rng.normal(size=(1, 16, 4))
    )
    relu = compare(replace(BASE, feature_map="relu"), zero_qk)
    assert relu.small_rows == 16  # relu(0) = 0: every normaliser is 0, reported
    for result in (constant, zero_v, relu):
        assert_no_nan(result)
