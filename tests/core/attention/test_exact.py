"""Exact attention against torch's SDPA in float64, and analytic cases."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from explorer.attention.blocks import CACHE_BLOCK, block_cap, head_row_blocks
from explorer.attention.exact import exact_weights, fast_softmax_attention, softmax_attention
from tests.conftest import gaussian

# float64 reference vs float64 SDPA: both are exact up to rounding of O(s) sums, ~1e-15.
TOL = 1e-10


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 17, 17), (1, 2, 9, 23), (3, 31, 8)])
def test_equals_sdpa_float64(generator, causal, shape):
    *batch, l, s = shape
    q = gaussian(*batch, l, 8, generator=generator, scale=2.0)
    k = gaussian(*batch, s, 8, generator=generator, scale=2.0)
    v = gaussian(*batch, s, 5, generator=generator)
    ours = softmax_attention(q, k, v, causal=causal)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    torch.testing.assert_close(ours, ref, atol=TOL, rtol=TOL)


def test_custom_scale_and_broadcast_heads(generator):
    q = gaussian(2, 4, 12, 6, generator=generator)
    k = gaussian(1, 4, 10, 6, generator=generator)  # broadcast over batch
    v = gaussian(1, 4, 10, 3, generator=generator)
    ours = softmax_attention(q, k, v, scale=0.7)
    ref = F.scaled_dot_product_attention(
        q, k.expand(2, -1, -1, -1), v.expand(2, -1, -1, -1), scale=0.7
    )
    torch.testing.assert_close(ours, ref, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("causal", [False, True])
def test_row_blocks_equal_one_block(generator, causal):
    q = gaussian(2, 50, 4, generator=generator)
    k = gaussian(2, 50, 4, generator=generator)
    v = gaussian(2, 50, 3, generator=generator)
    whole = softmax_attention(q, k, v, causal=causal)
    tiny_budget = softmax_attention(q, k, v, causal=causal, memory_budget=1)  # one row a block
    torch.testing.assert_close(tiny_budget, whole, atol=1e-14, rtol=0)


@pytest.mark.parametrize(
    ("heads", "rows", "row_bytes", "budget", "expected"),
    [
        (8, 100, 1000, 2**20, 1),  # a head's 100 kB fit ten times: one block of all 8
        (8, 100, 1000, 350_000, 3),  # three heads a block: 3 + 3 + 2
        (3, 100, 5000, 120_000, 15),  # a head does not fit: 5 blocks of 24 rows each
        (2, 7, 1, 1, 14),  # budget below one row: one row a block
        (2, 300, CACHE_BLOCK // 100, 2**40, 6),  # the cache cap, not the budget, cuts
    ],
)
def test_head_row_blocks_cover_each_row_once(heads, rows, row_bytes, budget, expected):
    seen = torch.zeros(heads, rows, dtype=torch.int64)
    blocks = list(head_row_blocks(heads, rows, row_bytes, budget))
    for head_slice, row_slice in blocks:
        cells = (head_slice.stop - head_slice.start) * (row_slice.stop - row_slice.start)
        assert cells * row_bytes <= max(row_bytes, min(budget, CACHE_BLOCK))
        assert head_slice.stop - head_slice.start == 1 or row_slice == slice(0, rows)
        seen[head_slice, row_slice] += 1
    assert bool((seen == 1).all()) and len(blocks) == expected


def test_blocks_are_cache_sized_on_a_cpu_and_budget_sized_elsewhere():
    assert block_cap(torch.device("cpu")) == CACHE_BLOCK
    gpu_cap = block_cap(torch.device("meta"))  # any non-CPU device: only the budget caps
    row_bytes = CACHE_BLOCK // 100
    on_cpu = list(head_row_blocks(2, 300, row_bytes, 2**40))
    elsewhere = list(head_row_blocks(2, 300, row_bytes, 2**40, cache_block=gpu_cap))
    assert len(on_cpu) == 6 and elsewhere == [(slice(0, 2), slice(0, 300))]
    budgeted = list(head_row_blocks(2, 300, row_bytes, 50 * row_bytes, cache_block=gpu_cap))
    assert len(budgeted) == 12  # the memory budget still holds: 50 rows a block


def test_weights_rows_sum_to_one_and_mask(generator):
    q = gaussian(3, 7, 4, generator=generator)
    k = gaussian(3, 7, 4, generator=generator)
    w = exact_weights(q, k, causal=True)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 7, dtype=torch.float64))
    assert torch.all(torch.triu(w, diagonal=1) == 0)


def test_analytic_uniform_causal():
    # Equal queries and keys give uniform attention: causal outputs of a one-hot first value are
    # 1, 1/2, 1/3 (the google-research reference test).
    q = torch.ones(1, 3, 4, dtype=torch.float64)
    v = torch.tensor([[[1.0], [0.0], [0.0]]], dtype=torch.float64)
    out = softmax_attention(q, q, v, causal=True)
    torch.testing.assert_close(out.flatten(), torch.tensor([1, 1 / 2, 1 / 3], dtype=torch.float64))


def test_shape_errors_name_the_shapes(generator):
    q = gaussian(2, 5, 4, generator=generator)
    with pytest.raises(ValueError, match="head dims differ"):
        softmax_attention(
            q, gaussian(2, 5, 3, generator=generator), gaussian(2, 5, 3, generator=generator)
        )
    with pytest.raises(ValueError, match="lengths differ"):
        softmax_attention(q, q, gaussian(2, 6, 3, generator=generator))
    with pytest.raises(ValueError, match="broadcast"):
        softmax_attention(
            q, gaussian(3, 5, 4, generator=generator), gaussian(3, 5, 3, generator=generator)
        )


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", [((2, 3, 17, 8), (1, 3, 17, 8)), ((31, 8), (40, 8))])
def test_fast_path_equals_the_blocked_reference(generator, causal, shape):
    # Broadcast heads and cross-attention; float64, so both paths agree to rounding.
    q_shape, k_shape = shape
    q = gaussian(*q_shape, generator=generator)
    k = gaussian(*k_shape, generator=generator)
    v = gaussian(*k_shape[:-1], 5, generator=generator)
    fast = fast_softmax_attention(q, k, v, causal=causal, scale=0.3)
    blocked = softmax_attention(q, k, v, causal=causal, scale=0.3)
    assert fast.shape == blocked.shape
    torch.testing.assert_close(fast, blocked, atol=TOL, rtol=TOL)


def test_fast_path_uses_sdpa_only_where_its_flash_kernel_applies(generator, monkeypatch):
    # SDPA's CPU flash kernel needs e = d; with e ≠ d it would build the whole l×s matrix,
    # so the blocked reference must run: SDPA is made to fail to prove it is not called.
    q = gaussian(2, 9, 8, generator=generator)
    v = gaussian(2, 9, 5, generator=generator)
    expected = softmax_attention(q, q, v, causal=True)

    def refuse(*args, **kwargs):
        raise AssertionError("SDPA called with e != d")

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", refuse)
    torch.testing.assert_close(fast_softmax_attention(q, q, v, causal=True), expected)
    with pytest.raises(AssertionError, match="SDPA called"):
        fast_softmax_attention(q, q, gaussian(2, 9, 8, generator=generator))


def test_head_blocks_stay_inside_their_group():
    # Grouped-query heads: heads 0-3 share key slab 0, heads 4-7 slab 1; no block mixes them.
    blocks = list(head_row_blocks(8, 10, 100, 2**20, group=4))
    assert {(h.start // 4, (h.stop - 1) // 4) for h, _ in blocks} == {(0, 0), (1, 1)}
