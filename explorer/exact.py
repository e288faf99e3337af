"""Exact softmax attention, the reference: Y = softmax(Q Kᵀ·scale + mask) V (Vaswani et al. 2017).

Written out explicitly (like the pure-Python reference in torch's SDPA docstring) and computed in
blocks of query rows, so no more than ``memory_budget`` bytes of the l×s score matrix exist at
once. Causal masking follows SDPA's ``is_causal``: query i sees keys j ≤ i (top-left aligned).
Shapes: q (..., l, d), k (..., s, d), v (..., s, e) → (..., l, e); leading dims broadcast.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from explorer.device import compute_dtype

DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of l×s scores alive at once (per call)


def default_scale(head_dim: int) -> float:
    """SDPA's default softmax scale 1/√d."""
    return 1.0 / math.sqrt(head_dim)


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor | None = None) -> None:
    """ValueError with the offending shapes unless q, k (and v) fit together."""
    if q.dim() < 2 or k.dim() < 2:
        raise ValueError(
            f"q and k need at least 2 dims (l, d); got {tuple(q.shape)}, {tuple(k.shape)}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k head dims differ: q {tuple(q.shape)} vs k {tuple(k.shape)} (last dim)"
        )
    if v is not None and (v.dim() < 2 or v.shape[-2] != k.shape[-2]):
        raise ValueError(
            f"k and v lengths differ: k {tuple(k.shape)} vs v {tuple(v.shape)} (dim -2)"
        )
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], *(() if v is None else (v.shape[:-2],)))
    except RuntimeError:
        raise ValueError(
            f"batch/head dims do not broadcast: q {tuple(q.shape)}, k {tuple(k.shape)}"
            + ("" if v is None else f", v {tuple(v.shape)}")
        ) from None


def row_blocks(
    num_rows: int, row_bytes: int, memory_budget: int = DEFAULT_MEMORY_BUDGET
) -> Iterator[slice]:
    """Slices of query rows whose l×s blocks fit the budget (at least one row per block)."""
    rows = max(1, memory_budget // max(1, row_bytes))
    for start in range(0, num_rows, rows):
        yield slice(start, min(num_rows, start + rows))


def causal_mask(rows: slice, num_keys: int, device: torch.device) -> torch.Tensor:
    """True where query i may not see key j (j > i). Shapes: (rows, s)."""
    query_pos = torch.arange(rows.start, rows.stop, device=device).unsqueeze(-1)  # (r, 1)
    key_pos = torch.arange(num_keys, device=device)  # (s,)
    return key_pos > query_pos


def exact_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    *,
    rows: slice | None = None,
    causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """softmax(Q Kᵀ·scale) for a block of query rows. Shapes: → (..., rows, s)."""
    rows = rows or slice(0, q.shape[-2])
    scale = default_scale(q.shape[-1]) if scale is None else scale
    work = compute_dtype(q.dtype)
    scores = (q[..., rows, :].to(work) @ k.to(work).transpose(-2, -1)) * scale  # (..., r, s)
    if causal:
        scores = scores.masked_fill(causal_mask(rows, k.shape[-2], q.device), float("-inf"))
    return torch.softmax(scores, dim=-1)


def softmax_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    scale: float | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> torch.Tensor:
    """Exact attention output, computed in row blocks. Shapes: → (..., l, e)."""
    check_qkv(q, k, v)
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    num_heads = math.prod(batch)
    work = compute_dtype(q.dtype)
    out = torch.empty(*batch, q.shape[-2], v.shape[-1], dtype=work, device=q.device)
    row_bytes = 2 * num_heads * k.shape[-2] * torch.finfo(work).bits // 8  # scores + weights
    for rows in row_blocks(q.shape[-2], row_bytes, memory_budget):
        weights = exact_weights(q, k, rows=rows, causal=causal, scale=scale)  # (..., r, s)
        out[..., rows, :] = weights @ v.to(work)
    return out
