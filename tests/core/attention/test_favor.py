"""The fused FAVOR+ equals the unfused linear attention of positive features (same W)."""

from __future__ import annotations

import pytest
import torch

from explorer.attention.favor import favor_attention
from explorer.attention.linear import linear_attention
from explorer.kernels.feature_maps import positive_features
from explorer.kernels.projections import draw_projection
from explorer.streams import stream
from tests.conftest import gaussian

FLOAT64 = 1e-10  # float64 sums of ≤ 100 terms: rounding is ~1e-15, far below this


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("l, s", [(40, 40), (33, 40), (40, 27)])
@pytest.mark.parametrize("chunk", [1, 7, None])
def test_fused_favor_equals_linear_attention(causal, l, s, chunk):
    # Broadcast batch dims, cross-attention both ways, partial last blocks, a σ where the key
    # max moves from block to block (the running shift is exercised).
    g = torch.Generator().manual_seed(31)
    q, k = gaussian(2, 3, l, 6, generator=g, scale=0.9), gaussian(1, 3, s, 6, generator=g)
    v = gaussian(1, 3, s, 4, generator=g)
    w = draw_projection("orthogonal", 24, 6, stream=stream("features", 0))
    ref = linear_attention(positive_features(q * 0.5, k * 0.5, w), v, causal=causal)
    got = favor_attention(q, k, v, w, causal=causal, scale=0.25, chunk_size=chunk)
    torch.testing.assert_close(got.output, ref.output, atol=FLOAT64, rtol=FLOAT64)
    if not causal:  # causal normalisers are in favor's own running units (a per-row factor)
        torch.testing.assert_close(got.normalizer, ref.normalizer, atol=0, rtol=1e-9)
    assert (got.negative_rows, got.small_rows) == (ref.negative_rows, ref.small_rows) == (0, 0)
    assert bool((got.normalizer > 0).all())


@pytest.mark.parametrize("causal", [False, True])
def test_fused_favor_keeps_tiny_positive_normalisers_like_linear_attention(causal):
    # W = I: the second query's features sit on w₁ and the key's on w₂, with e^{-20} across.
    # Positive features cannot cancel, so that row is exact (one key: ŷ = v), not zeroed.
    q = torch.tensor([[[0.5, 0.0], [10.0, -10.0]]], dtype=torch.float64)
    k = torch.tensor([[[-10.0, 10.0]]], dtype=torch.float64)
    v = torch.tensor([[[1.0]]], dtype=torch.float64)
    w = torch.eye(2, dtype=torch.float64)
    ref = linear_attention(positive_features(q, k, w), v, causal=causal)
    got = favor_attention(q, k, v, w, causal=causal, scale=1.0)
    assert got.small_rows == ref.small_rows == 0
    torch.testing.assert_close(got.output, torch.ones(1, 2, 1, dtype=torch.float64))
    torch.testing.assert_close(got.output, ref.output, atol=FLOAT64, rtol=FLOAT64)


def test_fused_favor_recomputes_underflowed_causal_rows():
    # The log-domain case of test_linear: float32, large early keys and a zero last key, so the
    # early rows' products underflow; favor's running shift must agree with linear_attention.
    g = torch.Generator().manual_seed(5)
    q, k = gaussian(1, 12, 4, generator=g, scale=8.0), gaussian(1, 12, 4, generator=g, scale=8.0)
    k[0, -1] = 0.0
    v = gaussian(1, 12, 3, generator=g)
    w = draw_projection("iid", 16, 4, stream=stream("features", 0))
    ref = linear_attention(
        positive_features(q.float(), k.float(), w.float()), v.float(), causal=True
    )
    got = favor_attention(q.float(), k.float(), v.float(), w.float(), causal=True, scale=1.0)
    torch.testing.assert_close(got.output, ref.output, atol=1e-5, rtol=1e-4)


def test_fused_favor_half_inputs_compute_in_float32():
    g = torch.Generator().manual_seed(32)
    q, k, v = (gaussian(1, 2, 64, 16, generator=g, scale=0.35) for _ in range(3))
    w = draw_projection("orthogonal", 32, 16, stream=stream("features", 0)).float()
    for dtype in (torch.bfloat16, torch.float16):
        half = [t.to(dtype) for t in (q, k, v)]
        got = favor_attention(*half, w, causal=True)
        assert got.output.dtype == torch.float32 and torch.isfinite(got.output).all()
        same = favor_attention(*(t.float() for t in half), w, causal=True)
        torch.testing.assert_close(got.output, same.output)  # the cast is the only difference


def test_fused_favor_bad_arguments():
    a = torch.ones(1, 4, 3)
    with pytest.raises(ValueError, match="projection"):
        favor_attention(a, a, a, torch.ones(5, 2))
    with pytest.raises(ValueError, match="chunk_size"):
        favor_attention(a, a, a, torch.ones(5, 3), chunk_size=-1)
    with pytest.raises(ValueError, match="lengths differ"):
        favor_attention(a, a, torch.ones(1, 5, 3), torch.ones(5, 3))
