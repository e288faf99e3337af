"""Masks: causal, sliding windows and soft-capped logits, against SDPA with explicit masks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from explorer.attention.exact import exact_weights, fast_softmax_attention, softmax_attention
from explorer.attention.linear import approximate_weights, linear_attention
from explorer.attention.masks import check_mask, hidden_keys, visible_counts
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.projections import draw_projection
from explorer.streams import stream
from tests.conftest import gaussian

TOL = 1e-10  # float64 against float64 SDPA: sums of ≤ 40 terms round at ~1e-15


def window_mask(l: int, s: int, window: int) -> torch.Tensor:
    """SDPA's boolean attn_mask (True: attend) for i − w < j ≤ i, written out directly."""
    i = torch.arange(l)[:, None]
    j = torch.arange(s)[None, :]
    return (j <= i) & (j > i - window)


@pytest.mark.parametrize("window", [1, 3, 7, 100])
@pytest.mark.parametrize("l, s", [(20, 20), (20, 27), (27, 20)])
def test_windowed_exact_attention_equals_sdpa_with_an_explicit_mask(window, l, s):
    g = torch.Generator().manual_seed(61)
    q, k, v = (
        gaussian(2, l, 6, generator=g),
        gaussian(2, s, 6, generator=g),
        gaussian(2, s, 4, generator=g),
    )
    mask = window_mask(l, s, window)
    visible = mask.any(-1)  # rows that see no key (cross-attention, l > s) have no softmax
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    for budget in (1, 10**9):  # one row a block, one block
        got = softmax_attention(q, k, v, causal=True, window=window, memory_budget=budget)
        torch.testing.assert_close(got[:, visible], ref[:, visible], atol=TOL, rtol=TOL)
    fast = fast_softmax_attention(q, k, v, causal=True, window=window)
    torch.testing.assert_close(fast[:, visible], ref[:, visible], atol=TOL, rtol=TOL)
    p = exact_weights(q, k, causal=True, window=window)
    assert bool((p[:, visible][..., ~mask[visible]] == 0).all())
    counts = visible_counts(torch.arange(l), s, causal=True, window=window)
    assert counts.tolist() == mask.sum(-1).tolist()


def test_softcapped_logits_follow_the_formula():
    # Gemma 2: c·tanh(t/c) of the scaled logits, then the softmax (and the mask).
    g = torch.Generator().manual_seed(62)
    q, k, v = (gaussian(1, 12, 8, generator=g, scale=3.0) for _ in range(3))
    logits = (q @ k.transpose(-2, -1)) * 8**-0.5
    capped = 2.0 * torch.tanh(logits / 2.0)
    capped = capped.masked_fill(torch.ones(12, 12, dtype=torch.bool).triu(1), -math.inf)
    expected = torch.softmax(capped, -1) @ v
    got = softmax_attention(q, k, v, causal=True, cap=2.0)
    torch.testing.assert_close(got, expected, atol=TOL, rtol=TOL)
    torch.testing.assert_close(fast_softmax_attention(q, k, v, causal=True, cap=2.0), expected)


@pytest.mark.parametrize("name", ["positive", "trig", "relu"])
@pytest.mark.parametrize("window", [1, 2, 5, 9, 64])
@pytest.mark.parametrize("chunk", [1, 4, 128])
def test_windowed_linear_attention_equals_the_masked_explicit_product(name, window, chunk):
    # Independent truth: D⁻¹ (φ(Q)φ(K)ᵀ ∘ mask) V with the full matrix and the window written out.
    g = torch.Generator().manual_seed(63)
    x, y = gaussian(2, 23, 6, generator=g, scale=0.5), gaussian(2, 23, 6, generator=g, scale=0.5)
    v = gaussian(2, 23, 3, generator=g)
    w = draw_projection("orthogonal", 16, 6, stream=stream("features", 0))
    features = get_feature_map(name)(x, y, w)
    kernel = (features.query @ features.key.transpose(-2, -1)) * window_mask(23, 23, window)
    explicit = (kernel @ v) / kernel.sum(-1, keepdim=True)
    result = linear_attention(features, v, causal=True, window=window, chunk_size=chunk)
    ok = result.normalizer.abs() > 1e-9  # relu rows with D = 0 are set to 0 and counted
    torch.testing.assert_close(result.output[ok], explicit[ok], atol=1e-9, rtol=1e-8)
    weights = approximate_weights(features, causal=True, window=window)
    torch.testing.assert_close(weights @ v, result.output, atol=1e-9, rtol=1e-8)


def test_masks_say_what_they_hide_and_refuse_nonsense():
    hidden = hidden_keys(torch.arange(4), 4, causal=True, window=2)
    assert hidden.tolist() == [
        [False, True, True, True],
        [False, False, True, True],
        [True, False, False, True],
        [True, True, False, False],
    ]
    assert hidden_keys(torch.arange(3), 3, causal=False) is None
    with pytest.raises(ValueError, match="need causal"):
        check_mask(causal=False, window=4)
    with pytest.raises(ValueError, match="positive number"):
        check_mask(causal=True, window=0)
