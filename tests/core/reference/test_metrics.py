"""Metrics: row blocks equal one block, TV/KL against scipy, baselines on analytic cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy

from explorer.attention.exact import exact_weights, softmax_attention
from explorer.attention.linear import approximate_weights, linear_attention
from explorer.kernels.feature_maps import Features, get_feature_map
from explorer.kernels.projections import draw_projection
from explorer.reference.display_maps import attention_maps
from explorer.reference.fused_pass import PassOptions
from explorer.reference.metrics import (
    error_metrics,
    reference_errors,
    uniform_output,
    weight_metrics,
)
from explorer.streams import stream
from tests.conftest import gaussian


def setup(name="positive", l=30, s=30, scale=0.6, seed=21):
    g = torch.Generator().manual_seed(seed)
    x, y = gaussian(2, l, 6, generator=g, scale=scale), gaussian(2, s, 6, generator=g, scale=scale)
    v = gaussian(2, s, 3, generator=g)
    w = draw_projection("iid", 8, 6, stream=stream("features", 0))
    features = get_feature_map(name)(x, y, w)
    return x, y, v, features


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("name", ["positive", "trig"])
def test_blocks_equal_whole_and_scipy(causal, name):
    x, y, v, features = setup(name)
    whole = weight_metrics(x, y, features, PassOptions(causal=causal))
    rowwise = weight_metrics(x, y, features, PassOptions(causal=causal, memory_budget=1))
    for key in (
        "weights_relative_error",
        "max_abs_error",
        "row_tv_mean",
        "row_kl_mean",
        "uniform_weights_error",
        "uniform_row_kl_mean",
        "kl_undefined_rows",
    ):
        assert rowwise[key] == pytest.approx(whole[key], rel=1e-12), key
    np.testing.assert_allclose(rowwise["row_tv"], whole["row_tv"], rtol=1e-12)
    # Independent truth from the full matrices.
    p = exact_weights(x, y, causal=causal, scale=1.0).numpy().reshape(-1, 30)
    p_hat = approximate_weights(features, causal=causal).numpy().reshape(-1, 30)
    assert whole["weights_relative_error"] == pytest.approx(
        np.linalg.norm(p_hat - p) / np.linalg.norm(p), rel=1e-10
    )
    assert whole["max_abs_error"] == pytest.approx(np.abs(p_hat - p).max(), rel=1e-10)
    np.testing.assert_allclose(whole["row_tv"].ravel(), 0.5 * np.abs(p_hat - p).sum(-1), rtol=1e-10)
    kl = whole["row_kl"].ravel()
    for i in range(p.shape[0]):
        if np.all(p_hat[i][p[i] > 0] > 0):
            assert kl[i] == pytest.approx(entropy(p[i], p_hat[i]), rel=1e-8, abs=1e-12)
        else:
            assert kl[i] == math.inf
    if name == "trig":
        assert whole["kl_undefined_rows"] == int(np.sum(~np.isfinite(kl)))


def test_exact_map_has_zero_error():
    # φ(q) = the exact kernel row and φ(k) = identity reproduce softmax exactly.
    g = torch.Generator().manual_seed(22)
    x, y, v = (
        gaussian(1, 12, 4, generator=g),
        gaussian(1, 12, 4, generator=g),
        gaussian(1, 12, 2, generator=g),
    )
    features = Features(
        torch.exp(x @ y.transpose(-2, -1)), torch.eye(12, dtype=torch.float64)[None], signed=False
    )
    exact = softmax_attention(x, y, v, scale=1.0)
    approx = linear_attention(features, v).output
    metrics = error_metrics(x, y, v, features, (exact, approx), PassOptions(causal=False))
    assert metrics.output_relative_error < 1e-12
    assert metrics.weights_relative_error < 1e-12 and metrics.row_tv_mean < 1e-12
    assert abs(metrics.row_kl_mean) < 1e-12


@pytest.mark.parametrize("causal", [False, True])
def test_uniform_baseline_is_zero_when_attention_is_uniform(causal):
    # q = 0 makes every logit 0: exact attention is uniform over visible keys, so the
    # uniform-attention baseline has no error at all.
    g = torch.Generator().manual_seed(23)
    x, y = torch.zeros(1, 9, 4, dtype=torch.float64), gaussian(1, 9, 4, generator=g)
    v = gaussian(1, 9, 3, generator=g)
    _, _, _, full = setup(l=9, s=9)
    exact = softmax_attention(x, y, v, scale=1.0, causal=causal)
    torch.testing.assert_close(uniform_output(v, 9, causal=causal), exact)
    features = Features(full.query[:1], full.key[:1], signed=False)
    metrics = error_metrics(x, y, v, features, (exact, exact), PassOptions(causal=causal))
    assert metrics.uniform_baseline_error < 1e-12
    assert metrics.uniform_weights_error < 1e-12
    assert abs(metrics.uniform_row_kl_mean) < 1e-12


def test_row_output_error_mean_square_is_relative_error():
    x, y, v, features = setup()
    exact = softmax_attention(x, y, v, scale=1.0)
    approx = linear_attention(features, v).output
    metrics = error_metrics(x, y, v, features, (exact, approx), PassOptions(causal=False))
    assert math.sqrt(np.mean(metrics.row_output_error**2)) == pytest.approx(
        metrics.output_relative_error, rel=1e-10
    )
    assert metrics.output_max_abs_error == pytest.approx(float((approx - exact).abs().max()))


def test_without_values_only_weights_are_compared():
    x, y, _, features = setup()
    metrics = error_metrics(x, y, None, features, (None, None), PassOptions(causal=False))
    assert metrics.output_relative_error is None and metrics.row_output_error is None
    assert metrics.weights_relative_error > 0


@pytest.mark.parametrize("budget", [1, 10**9])  # one row a block, or one block
@pytest.mark.parametrize("causal", [False, True])
def test_one_fused_pass_equals_the_separate_ones(causal, budget):
    # Independent truth: torch's SDPA in float64 for Y; the standalone maps pass (built from
    # exact_weights and approximate_weights) for the pooled maps; error_metrics for the rest.
    # All float64 except the float32 maps, hence the two tolerances.
    g = torch.Generator().manual_seed(24)
    x, y = gaussian(3, 2, 40, 6, generator=g, scale=0.6), gaussian(1, 2, 40, 6, generator=g)
    v = gaussian(3, 1, 40, 5, generator=g)  # broadcast over heads (dim 1), batch over dim 0
    w = draw_projection("orthogonal", 16, 6, stream=stream("features", 3))
    features = get_feature_map("positive")(x, y, w)
    approx = linear_attention(features, v, causal=causal).output
    fused = reference_errors(
        x, y, v, features, approx, PassOptions(causal=causal, max_side=7, memory_budget=budget)
    )
    sdpa = torch.nn.functional.scaled_dot_product_attention(
        x, y.expand(3, 2, 40, 6), v.expand(3, 2, 40, 5), is_causal=causal, scale=1.0
    )
    assert fused.exact_output.shape == (3, 2, 40, 5)
    torch.testing.assert_close(fused.exact_output, sdpa, rtol=1e-12, atol=1e-12)
    separate = error_metrics(x, y, v, features, (sdpa, approx), PassOptions(causal=causal))
    for name in ("output_relative_error", "weights_relative_error", "row_kl_mean", "row_tv_mean"):
        assert getattr(fused.metrics, name) == pytest.approx(getattr(separate, name), rel=1e-10)
    maps = attention_maps(x, y, features, PassOptions(causal=causal, max_side=7))
    assert fused.maps.pool == maps.pool == (6, 6) and fused.maps.exact.shape == (6, 7, 7)
    np.testing.assert_allclose(fused.maps.exact, maps.exact, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fused.maps.approx, maps.approx, rtol=1e-5, atol=1e-7)
    assert fused.maps.negative_entries == maps.negative_entries == 0  # positive features


def test_values_with_more_batch_dims_broadcast_the_pass():
    x, y, _, features = setup()  # (2, 30, ·)
    v = gaussian(3, 2, 30, 4, generator=torch.Generator().manual_seed(25))
    fused = reference_errors(x, y, v, features, None, PassOptions(causal=False))
    sdpa = torch.nn.functional.scaled_dot_product_attention(
        x.expand(3, 2, 30, 6), y.expand(3, 2, 30, 6), v, scale=1.0
    )
    torch.testing.assert_close(fused.exact_output, sdpa, rtol=1e-12, atol=1e-12)


def test_without_values_the_pass_has_no_output():
    x, y, _, features = setup()
    fused = reference_errors(x, y, None, features, None, PassOptions(causal=False))
    assert fused.exact_output is None and fused.maps is None
    assert fused.metrics.output_relative_error is None
