"""Blocks of rows (and heads) under a memory budget: how the exact computations stay bounded.

No more than ``memory_budget`` bytes of an l×s matrix exist at once; on a CPU a block is also
capped at ``CACHE_BLOCK`` bytes, so the several passes over it run from cache and malloc reuses
it instead of page-faulting afresh. Head blocks never straddle a ``group`` boundary (grouped-
query heads: the heads of one group share a key slab, so a block reads it as one operand).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of l×s scores alive at once (per call)
CACHE_BLOCK = 32 * 2**20  # bytes of one block at most: L3-sized, yet few thin (slow) products


def block_cap(device: torch.device) -> int:
    """Largest block in bytes: ``CACHE_BLOCK`` on a CPU; on an accelerator only the budget
    caps it, since small blocks there are bound by kernel launches, not by a cache."""
    return CACHE_BLOCK if device.type == "cpu" else 2**62


def row_blocks(
    num_rows: int,
    row_bytes: int,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    *,
    cache_block: int = CACHE_BLOCK,
) -> Iterator[slice]:
    """Slices of query rows whose l×s blocks fit the budget (at least one row per block).

    Blocks are also capped at ``cache_block`` bytes (``block_cap``): on a CPU the several passes
    over a block then run from cache, and a block that size is reused by malloc instead of
    page-faulting afresh.
    """
    rows = max(1, min(memory_budget, cache_block) // max(1, row_bytes))
    for start in range(0, num_rows, rows):
        yield slice(start, min(num_rows, start + rows))


def head_row_blocks(
    num_heads: int,
    num_rows: int,
    row_bytes: int,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    *,
    cache_block: int = CACHE_BLOCK,
    group: int | None = None,
) -> Iterator[tuple[slice, slice]]:
    """(heads, rows) blocks of a flattened (n, l, s) problem; ``row_bytes`` is for one head.

    A head whose whole l×s fits is grouped with others (within one ``group`` of heads); a
    longer one is cut into ``row_blocks`` of its own, so every block keeps as many rows as the
    budget allows: a block of few rows over many heads makes thin, slow matrix products.
    """
    cap = min(memory_budget, cache_block)
    group = num_heads if group is None else group  # None: any heads may share a block
    if num_rows * row_bytes <= cap:
        step = max(1, cap // max(1, num_rows * row_bytes))
        for first in range(0, num_heads, group):
            last = min(num_heads, first + group)
            for start in range(first, last, step):
                yield slice(start, min(last, start + step)), slice(0, num_rows)
        return
    for head in range(num_heads):
        for rows in row_blocks(num_rows, row_bytes, memory_budget, cache_block=cache_block):
            yield slice(head, head + 1), rows
