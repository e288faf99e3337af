"""Linear attention against the explicitly normalised φ(Q)φ(K)ᵀ product, and analytic cases."""

from __future__ import annotations

import pytest
import torch

from explorer.attention.exact import softmax_attention
from explorer.attention.linear import approximate_weights, linear_attention
from explorer.kernels.feature_maps import FEATURE_MAPS, get_feature_map
from explorer.kernels.projections import draw_projection, seeded_generator
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
    w = draw_projection("orthogonal", 24, 6, generator=seeded_generator(0))
    phi_q, phi_k = get_feature_map(name)(x, y, w)
    result = linear_attention(phi_q, phi_k, v, causal=causal, chunk_size=chunk)
    ref = explicit(phi_q, phi_k, v, causal)
    ok = result.normalizer.abs() > 1e-9  # relu can give rows with D = 0 (set to 0, counted)
    torch.testing.assert_close(result.output[ok], ref[ok], atol=1e-10, rtol=1e-9)
    torch.testing.assert_close(
        approximate_weights(phi_q, phi_k, causal=causal) @ v, result.output, atol=1e-10, rtol=1e-9
    )


@pytest.mark.parametrize("name", list(FEATURE_MAPS))
def test_analytic_causal_uniform(name):
    # Identical queries and keys make every kernel value equal, so any map is exact:
    # causal outputs for a one-hot first value are 1, 1/2, 1/3 (google-research's test).
    x = torch.full((1, 3, 4), 0.3, dtype=torch.float64)
    v = torch.tensor([[[1.0], [0.0], [0.0]]], dtype=torch.float64)
    w = draw_projection("iid", 8, 4, generator=seeded_generator(0))
    result = linear_attention(*get_feature_map(name)(x, x, w), v, causal=True, chunk_size=2)
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
    w = draw_projection("orthogonal", 2**14, 8, generator=seeded_generator(1))
    for causal in (False, True):
        approx = linear_attention(*get_feature_map("positive")(x, y, w), v, causal=causal)
        exact = softmax_attention(x, y, v, causal=causal, scale=1.0)
        assert (approx.output - exact).abs().max() < 0.02


def test_negative_normalisers_are_counted_not_hidden():
    # Trig features at large |x − y| with few vectors give negative normalisers.
    g = torch.Generator().manual_seed(13)
    x, y = gaussian(1, 64, 8, generator=g, scale=1.5), gaussian(1, 64, 8, generator=g, scale=1.5)
    v = gaussian(1, 64, 2, generator=g)
    w = draw_projection("iid", 4, 8, generator=seeded_generator(2))
    phi_q, phi_k = get_feature_map("trig")(x, y, w)
    result = linear_attention(phi_q, phi_k, v)
    explicit_d = (phi_q @ phi_k.transpose(-2, -1)).sum(-1)
    assert result.negative_rows == int((explicit_d < 0).sum()) > 0
    assert torch.isfinite(result.output).all()


def test_zero_normaliser_rows_are_zero_and_counted():
    # A zero query gives relu features of 0: its normaliser is exactly 0. No NaN, one row counted.
    x = torch.tensor([[[0.0, 0.0], [1.0, 0.5]]], dtype=torch.float64)
    v = torch.tensor([[[1.0], [2.0]]], dtype=torch.float64)
    w = torch.eye(2, dtype=torch.float64)
    for causal in (False, True):
        result = linear_attention(*get_feature_map("relu")(x, x, w), v, causal=causal)
        assert result.small_rows == 1 and torch.isfinite(result.output).all()
        assert result.output[0, 0, 0] == 0
        weights = approximate_weights(*get_feature_map("relu")(x, x, w), causal=causal)
        assert torch.all(weights[0, 0] == 0)


def test_bad_shapes():
    a = torch.ones(1, 4, 3)
    with pytest.raises(ValueError, match="feature dims differ"):
        linear_attention(a, torch.ones(1, 4, 2), torch.ones(1, 4, 1))
    with pytest.raises(ValueError, match="lengths differ"):
        linear_attention(a, a, torch.ones(1, 5, 1))
    with pytest.raises(ValueError, match="chunk_size"):
        linear_attention(a, a, torch.ones(1, 4, 1), causal=True, chunk_size=0)
