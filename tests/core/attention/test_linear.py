"""Linear attention against the explicitly normalised φ(Q)φ(K)ᵀ product, and analytic cases."""

from __future__ import annotations

import math

import pytest
import torch

from explorer.attention.exact import softmax_attention
from explorer.attention.linear import approximate_weights, linear_attention
from explorer.kernels.feature_maps import (
    FEATURE_MAPS,
    Features,
    get_feature_map,
    positive_features,
)
from explorer.kernels.projections import draw_projection
from explorer.streams import stream
from tests.conftest import gaussian


def explicit(phi_q, phi_k, v, causal):
    """D⁻¹ (φ(Q)φ(K)ᵀ ∘ mask) V with the full l×s matrix, as written in the paper."""
    kernel = phi_q @ phi_k.transpose(-2, -1)  # (..., l, s)
    if causal:
        kernel = torch.tril(kernel)  # top-left aligned, like SDPA's is_causal
    return (kernel @ v) / kernel.sum(-1, keepdim=True)


@pytest.mark.parametrize("name", ["positive", "trig", "hyperbolic", "oprf", "relu"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("l, s", [(40, 40), (33, 40), (40, 27)])
@pytest.mark.parametrize("chunk", [1, 7, 128])
def test_equals_explicit_product(name, causal, l, s, chunk):
    g = torch.Generator().manual_seed(11)
    x, y = (
        gaussian(2, 3, l, 6, generator=g, scale=0.5),
        gaussian(2, 3, s, 6, generator=g, scale=0.5),
    )
    v = gaussian(2, 3, s, 4, generator=g)
    w = draw_projection("orthogonal", 24, 6, stream=stream("features", 0))
    features = get_feature_map(name)(x, y, w)
    phi_q, phi_k = features.query, features.key
    result = linear_attention(features, v, causal=causal, chunk_size=chunk)
    ref = explicit(phi_q, phi_k, v, causal)
    ok = result.normalizer.abs() > 1e-9  # relu can give rows with D = 0 (set to 0, counted)
    torch.testing.assert_close(result.output[ok], ref[ok], atol=1e-10, rtol=1e-9)
    torch.testing.assert_close(
        approximate_weights(features, causal=causal) @ v, result.output, atol=1e-10, rtol=1e-9
    )


@pytest.mark.parametrize("name", list(FEATURE_MAPS))
def test_analytic_causal_uniform(name):
    # Identical queries and keys make every kernel value equal, so any map is exact:
    # causal outputs for a one-hot first value are 1, 1/2, 1/3 (google-research's test).
    x = torch.full((1, 3, 4), 0.3, dtype=torch.float64)
    v = torch.tensor([[[1.0], [0.0], [0.0]]], dtype=torch.float64)
    w = draw_projection("iid", 8, 4, stream=stream("features", 0))
    result = linear_attention(get_feature_map(name)(x, x, w), v, causal=True, chunk_size=2)
    torch.testing.assert_close(
        result.output.flatten(), torch.tensor([1, 1 / 2, 1 / 3], dtype=torch.float64)
    )


def test_many_features_approach_exact():
    # With 2^14 orthogonal features at small norms the estimate is close to exact: |x+y|² ≈ 0.3
    # here, relative kernel MSE per vector e^0.3 − 1 ≈ 0.35, so kernel errors ≈ √(0.35/16384)
    # ≈ 0.005 and output errors (|v| ≈ 1) stay well under 0.02 even at the max over 48 entries.
    g = torch.Generator().manual_seed(12)
    x, y = gaussian(1, 16, 8, generator=g, scale=0.15), gaussian(1, 16, 8, generator=g, scale=0.15)
    v = gaussian(1, 16, 3, generator=g)
    w = draw_projection("orthogonal", 2**14, 8, stream=stream("features", 1))
    for causal in (False, True):
        approx = linear_attention(get_feature_map("positive")(x, y, w), v, causal=causal)
        exact = softmax_attention(x, y, v, causal=causal, scale=1.0)
        assert (approx.output - exact).abs().max() < 0.02


def test_positive_rows_are_never_zeroed_for_being_small():
    # The audit's case: the second query's features sit on w₁ and the key's on w₂, e^{-20}
    # apart, so D is tiny against |φ(x)|·|φ(y)| ≈ 1. Positive features cannot cancel: the row
    # is exact (one visible key, so P̂ = 1 and ŷ = v), not noise to be zeroed.
    q = torch.tensor([[[0.5, 0.0], [10.0, -10.0]]], dtype=torch.float64)
    k = torch.tensor([[[-10.0, 10.0]]], dtype=torch.float64)
    v = torch.tensor([[[1.0]]], dtype=torch.float64)
    for causal in (False, True):
        result = linear_attention(
            positive_features(q, k, torch.eye(2, dtype=q.dtype)), v, causal=causal
        )
        assert result.small_rows == 0 and result.out_of_range_rows == 0
        torch.testing.assert_close(result.output, torch.ones(1, 2, 1, dtype=q.dtype))


def test_underflowed_causal_rows_are_recomputed_in_the_log_domain():
    # Causal rows see only early keys. Large keys have exponents w·y − |y|²/2 ≈ −128 ± 16 per
    # feature, while a zero last key has 0 in every feature and so sets the per-feature key
    # shift: the early rows' products fall near e^{-160}, below float32's range (e^{-87}).
    # They must come out as the exact ratio, not 0/0 or zeroed: compare with a float64
    # log-sum-exp evaluation of the same estimator, written out independently here.
    g = torch.Generator().manual_seed(5)
    x = gaussian(1, 12, 4, generator=g, scale=8.0)
    y = gaussian(1, 12, 4, generator=g, scale=8.0)
    y[0, -1] = 0.0  # the last key
    v = gaussian(1, 12, 3, generator=g)
    w = draw_projection("iid", 16, 4, stream=stream("features", 0))
    result = linear_attention(
        positive_features(x.float(), y.float(), w.float()), v.float(), causal=True
    )
    assert result.recomputed_rows > 0 and result.small_rows == 0
    log_q = x @ w.T - 0.5 * (x * x).sum(-1, keepdim=True)  # unstabilised exponents, float64
    log_k = y @ w.T - 0.5 * (y * y).sum(-1, keepdim=True)
    log_kernel = torch.logsumexp(log_q.unsqueeze(-2) + log_k.unsqueeze(-3), dim=-1)  # (1, l, s)
    log_kernel = log_kernel.masked_fill(torch.ones(12, 12, dtype=torch.bool).triu(1), -math.inf)
    expected = torch.softmax(log_kernel, dim=-1) @ v
    torch.testing.assert_close(result.output.double(), expected, atol=1e-5, rtol=1e-4)


def test_large_norm_float64_rows_equal_the_log_sum_exp_reference():
    # σ = 10 at d = 64 (the audit's case): |x|² ≈ 800, true log D_i down to about −400. The old
    # global key shift zeroed most rows as "small"; every row must now equal the estimator's
    # own value, evaluated independently in the log domain.
    g = torch.Generator().manual_seed(6)
    x = gaussian(1, 64, 64, generator=g, scale=10.0) * 64**-0.25
    y = gaussian(1, 64, 64, generator=g, scale=10.0) * 64**-0.25
    v = gaussian(1, 64, 8, generator=g)
    w = draw_projection("orthogonal", 128, 64, stream=stream("features", 1))
    log_q = x @ w.T - 0.5 * (x * x).sum(-1, keepdim=True)
    log_k = y @ w.T - 0.5 * (y * y).sum(-1, keepdim=True)
    log_kernel = torch.logsumexp(log_q.unsqueeze(-2) + log_k.unsqueeze(-3), dim=-1)
    assert float(torch.logsumexp(log_kernel, -1).min()) < -100  # the hard regime indeed
    expected = torch.softmax(log_kernel, dim=-1) @ v
    result = linear_attention(positive_features(x, y, w), v)
    assert result.small_rows == 0
    torch.testing.assert_close(result.output, expected, atol=1e-10, rtol=1e-8)


def test_negative_normalisers_are_counted_not_hidden():
    # Trig features at large |x − y| with few vectors give negative normalisers.
    g = torch.Generator().manual_seed(13)
    x, y = gaussian(1, 64, 8, generator=g, scale=1.5), gaussian(1, 64, 8, generator=g, scale=1.5)
    v = gaussian(1, 64, 2, generator=g)
    w = draw_projection("iid", 4, 8, stream=stream("features", 2))
    features = get_feature_map("trig")(x, y, w)
    phi_q, phi_k = features.query, features.key
    result = linear_attention(features, v)
    explicit_d = (phi_q @ phi_k.transpose(-2, -1)).sum(-1)
    assert result.negative_rows == int((explicit_d < 0).sum()) > 0
    assert torch.isfinite(result.output).all()


def test_outputs_outside_the_values_range_are_flagged():
    # Signed kernel values 1 and −0.999: D = 0.001 is above the cancellation threshold
    # (1e-6 × the bound ≈ 2), yet the output 1000 lies far outside the values [0, 1], which
    # softmax attention (a convex combination) can never produce. It is counted, not hidden.
    features = Features(
        torch.tensor([[[1.0, 0.0], [0.5, 0.5]]], dtype=torch.float64),
        torch.tensor([[[1.0, 0.0], [-0.999, 0.0]]], dtype=torch.float64),
        signed=True,
    )
    v = torch.tensor([[[1.0], [0.0]]], dtype=torch.float64)
    result = linear_attention(features, v)
    assert result.small_rows == 0 and result.out_of_range_rows == 2
    assert float(result.output[0, 0, 0]) == pytest.approx(1000.0)


def test_zero_normaliser_rows_are_zero_and_counted():
    # A zero query gives relu features of 0: its normaliser is exactly 0. No NaN, one row counted.
    x = torch.tensor([[[0.0, 0.0], [1.0, 0.5]]], dtype=torch.float64)
    v = torch.tensor([[[1.0], [2.0]]], dtype=torch.float64)
    w = torch.eye(2, dtype=torch.float64)
    for causal in (False, True):
        result = linear_attention(get_feature_map("relu")(x, x, w), v, causal=causal)
        assert result.small_rows == 1 and torch.isfinite(result.output).all()
        assert result.output[0, 0, 0] == 0
        weights = approximate_weights(get_feature_map("relu")(x, x, w), causal=causal)
        assert torch.all(weights[0, 0] == 0)


def test_bad_shapes():
    a = torch.ones(1, 4, 3)
    with pytest.raises(ValueError, match="feature dims differ"):
        linear_attention(Features(a, torch.ones(1, 4, 2), signed=False), torch.ones(1, 4, 1))
    with pytest.raises(ValueError, match="lengths differ"):
        linear_attention(Features(a, a, signed=False), torch.ones(1, 5, 1))
    with pytest.raises(ValueError, match="chunk_size"):
        linear_attention(
            Features(a, a, signed=False), torch.ones(1, 4, 1), causal=True, chunk_size=0
        )
