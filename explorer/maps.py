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

from explorer.exact import DEFAULT_MEMORY_BUDGET, exact_weights, row_blocks
from explorer.linear import approximate_weights

MAX_SIDE = 1024  # the largest map side sent to a chart (1024² float32 ≈ 4 MB per map)


@dataclass(frozen=True)
class AttentionMaps:
    """Exact and approximate attention, pooled by ``pool`` (1, 1 when shown as computed)."""

    exact: np.ndarray  # (n, l', s') float32
    approx: np.ndarray  # (n, l', s') float32
    pool: tuple[int, int]  # rows and columns averaged into one cell
    negative_entries: int  # entries of P̂ below 0 (signed maps), counted before pooling


def _pool_columns(block: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean over groups of ``factor`` columns (the last group may be short)."""
    if factor == 1:
        return block
    s = block.shape[-1]
    pad = (-s) % factor
    padded = torch.nn.functional.pad(block, (0, pad))  # (..., r, s + pad)
    sums = padded.reshape(*block.shape[:-1], -1, factor).sum(-1)  # (..., r, ⌈s/f⌉)
    counts = torch.full((sums.shape[-1],), float(factor), dtype=block.dtype, device=block.device)
    counts[-1] = factor - pad
    return sums / counts


def attention_maps(
    x: torch.Tensor,
    y: torch.Tensor,
    phi_q: torch.Tensor,
    phi_k: torch.Tensor,
    *,
    causal: bool,
    max_side: int = MAX_SIDE,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> AttentionMaps:
    """P and P̂ per head, average-pooled to at most ``max_side`` per axis."""
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    num_rows, num_keys = x.shape[-2], y.shape[-2]
    heads = math.prod(torch.broadcast_shapes(x.shape[:-2], y.shape[:-2], phi_q.shape[:-2]))
    row_pool = math.ceil(num_rows / max_side)
    col_pool = math.ceil(num_keys / max_side)
    # Row blocks are whole multiples of the row pool so no pooled cell straddles two blocks.
    row_bytes = 4 * heads * num_keys * 8
    per_block = max(1, memory_budget // max(1, row_bytes))
    per_block = max(row_pool, per_block // row_pool * row_pool)
    exact_parts, approx_parts, negative = [], [], 0
    for rows in row_blocks(num_rows, 1, per_block):
        p = exact_weights(x, y, rows=rows, causal=causal, scale=1.0).float()  # (..., r, s)
        p_hat = approximate_weights(phi_q, phi_k, rows=rows, causal=causal).float()
        negative += int((p_hat < 0).sum())
        for parts, block in ((exact_parts, p), (approx_parts, p_hat)):
            pooled = _pool_columns(block.reshape(heads, *block.shape[-2:]), col_pool)
            r = pooled.shape[-2]
            pad = (-r) % row_pool
            if row_pool > 1:  # (n, r, s') → (n, ⌈r/f⌉, s') averaged over row groups
                filled = torch.nn.functional.pad(pooled, (0, 0, 0, pad))
                sums = filled.reshape(heads, -1, row_pool, pooled.shape[-1]).sum(-2)
                counts = torch.full((sums.shape[-2], 1), float(row_pool))
                counts[-1] = row_pool - pad
                pooled = sums / counts.to(sums.device)
            parts.append(pooled.cpu())
    return AttentionMaps(
        exact=torch.cat(exact_parts, dim=-2).numpy(),
        approx=torch.cat(approx_parts, dim=-2).numpy(),
        pool=(row_pool, col_pool),
        negative_entries=negative,
    )
