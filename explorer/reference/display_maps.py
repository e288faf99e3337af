"""Attention matrices for display: exact P and approximate P̂, mean-pooled to at most a side.

P is (l, s) per head; maps larger than ``max_side`` on an axis are average-pooled by an integer
factor on that axis (blocks of ⌈l/max_side⌉ rows, ⌈s/max_side⌉ columns), computed one block of
rows at a time, so an L×L matrix never exists for long inputs. Pooled maps keep row sums.
Shapes: x (..., l, d), y (..., s, d) pre-scaled, φ (..., l|s, m) → (n, ⌈l/f⌉, ⌈s/g⌉) float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from explorer.attention.blocks import block_cap, row_blocks
from explorer.attention.exact import exact_weights
from explorer.attention.linear import approximate_weights
from explorer.cancel import checkpoint
from explorer.kernels.feature_maps import Features

MAX_SIDE = 1024  # the largest map side sent to a chart (1024² float32 ≈ 4 MB per map)


@dataclass(frozen=True, kw_only=True)
class AttentionMaps:
    """Exact and approximate attention, pooled by ``pool`` (1, 1 when shown as computed)."""

    exact: np.ndarray  # (n, l', s') float32
    approx: np.ndarray  # (n, l', s') float32
    pool: tuple[int, int]  # rows and columns averaged into one cell
    negative_entries: int  # entries of P̂ below 0 (signed maps), counted before pooling


class MapPooler:
    """Sums blocks of P and P̂ into cells of f×g entries; ``maps()`` turns the sums into means.

    Rows are summed into their cell with ``index_add_``, so row blocks of any size (and causal
    blocks cut at their last visible key) pool exactly like the whole matrix would.
    """

    def __init__(
        self, heads: int, num_rows: int, num_keys: int, *, max_side: int, device: torch.device
    ) -> None:
        if max_side < 1:
            raise ValueError(f"max_side must be at least 1, got {max_side}")
        self.shape = (num_rows, num_keys)
        self.pool = (math.ceil(num_rows / max_side), math.ceil(num_keys / max_side))
        cells = (heads, math.ceil(num_rows / self.pool[0]), math.ceil(num_keys / self.pool[1]))
        self.sums = [torch.zeros(cells, dtype=torch.float32, device=device) for _ in range(2)]
        self.negative = 0

    def add(self, p: torch.Tensor, p_hat: torch.Tensor, heads: slice, rows: slice) -> None:
        """Add one block (h', r, keys) of those heads and rows; entries past ``keys`` are 0."""
        if float(p_hat.amin()) < 0:  # a compare-and-count pass only for signed maps
            self.negative += int((p_hat < 0).sum())
        f, g = self.pool
        first, last = rows.start // f, (rows.stop - 1) // f  # cell rows this block touches
        cell = torch.arange(rows.start, rows.stop, device=p.device) // f - first  # (r,)
        for total, block in zip(self.sums, (p, p_hat), strict=True):
            n, _, keys = block.shape
            if f > 1:  # rows first: the column pass then reads f times less
                block = block.new_zeros(n, last - first + 1, keys).index_add_(1, cell, block)
            whole = keys // g * g  # columns in full groups of g; a view, no copy
            columns = block[..., :whole].reshape(*block.shape[:2], -1, g).sum(-1)
            if whole < keys:  # (n, r', ⌈keys/g⌉): the short last group
                columns = torch.cat([columns, block[..., whole:].sum(-1, keepdim=True)], -1)
            total[heads, first : last + 1, : columns.shape[-1]] += columns.float()

    def maps(self) -> AttentionMaps:
        """The pooled means (a short last cell is divided by its own size)."""
        sizes, cell_counts = [], self.sums[0].shape[1:]
        for length, factor, cells in zip(self.shape, self.pool, cell_counts, strict=True):
            size = torch.full((cells,), float(factor))
            size[-1] = length - factor * (cells - 1)
            sizes.append(size)
        area = (sizes[0][:, None] * sizes[1][None, :]).to(self.sums[0].device)  # (l', s')
        exact, approx = ((total / area).cpu().numpy() for total in self.sums)
        return AttentionMaps(
            exact=exact, approx=approx, pool=self.pool, negative_entries=self.negative
        )


def attention_maps(x: torch.Tensor, y: torch.Tensor, features: Features, options) -> AttentionMaps:
    """P and P̂ per head, average-pooled to at most ``options.max_side`` per axis, on their own.

    ``options`` is the reference pass's ``PassOptions`` (masks, max side, memory budget);
    ``reference.metrics.reference_errors`` pools the same maps inside its metrics pass, while
    this standalone pass builds P and P̂ from ``exact_weights`` and ``approximate_weights``.
    """
    max_side = MAX_SIDE if options.max_side is None else options.max_side
    mask = {"causal": options.causal, "window": options.window}
    num_rows, num_keys = x.shape[-2], y.shape[-2]
    batch = torch.broadcast_shapes(
        x.shape[:-2], y.shape[:-2], features.query.shape[:-2], features.key.shape[:-2]
    )
    heads = math.prod(batch)
    pooler = MapPooler(heads, num_rows, num_keys, max_side=max_side, device=x.device)
    row_bytes = 4 * heads * num_keys * 8
    budget = options.memory_budget
    for rows in row_blocks(num_rows, row_bytes, budget, cache_block=block_cap(x.device)):
        checkpoint()
        r = rows.stop - rows.start
        p = exact_weights(x, y, rows=rows, scale=1.0, cap=options.softcap, **mask)  # (..., r, s)
        p_hat = approximate_weights(features, rows=rows, **mask)  # (..., r, s)
        p, p_hat = (t.expand(*batch, r, num_keys).reshape(heads, r, num_keys) for t in (p, p_hat))
        pooler.add(p, p_hat, slice(0, heads), rows)
    return pooler.maps()
