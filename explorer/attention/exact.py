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
CACHE_BLOCK = 32 * 2**20  # bytes of one block at most: L3-sized, yet few thin (slow) products


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
) -> Iterator[tuple[slice, slice]]:
    """(heads, rows) blocks of a flattened (n, l, s) problem; ``row_bytes`` is for one head.

    A head whose whole l×s fits is grouped with others; a longer one is cut into ``row_blocks``
    of its own, so every block keeps as many rows as the budget allows: a block of few rows over
    many heads makes thin, slow matrix products.
    """
    cap = min(memory_budget, cache_block)
    if num_rows * row_bytes <= cap:
        step = max(1, cap // max(1, num_rows * row_bytes))
        for start in range(0, num_heads, step):
            yield slice(start, min(num_heads, start + step)), slice(0, num_rows)
        return
    for head in range(num_heads):
        for rows in row_blocks(num_rows, row_bytes, memory_budget, cache_block=cache_block):
            yield slice(head, head + 1), rows


def causal_mask(rows: slice, num_keys: int, device: torch.device) -> torch.Tensor:
    """True where query i may not see key j (j > i). Shapes: (rows, s)."""
    query_pos = torch.arange(rows.start, rows.stop, device=device).unsqueeze(-1)  # (r, 1)
    key_pos = torch.arange(num_keys, device=device)  # (s,)
    return key_pos > query_pos


def visible_keys(rows: slice, num_keys: int, causal: bool) -> int:
    """Keys any query of the block can see: causal rows i < stop see only keys j < stop."""
    return min(num_keys, rows.stop) if causal else num_keys


def scores(
    q: torch.Tensor, k: torch.Tensor, rows: slice, *, causal: bool, scale: float, keys: int
) -> torch.Tensor:
    """Q Kᵀ·scale for a block of rows and the first ``keys`` keys, −inf where hidden.

    Shapes: q (..., l, d), k (..., s, d) → (..., r, keys).
    """
    work = compute_dtype(q.dtype)
    block = q[..., rows, :].to(work) * scale  # (..., r, d): scaling r·d entries, not r·s
    out = block @ k[..., :keys, :].to(work).transpose(-2, -1)  # (..., r, keys)
    if causal and keys > rows.start:  # only keys rows.start.. are hidden from some rows
        hidden = causal_mask(slice(0, rows.stop - rows.start), keys - rows.start, q.device)
        out[..., rows.start :].masked_fill_(hidden, float("-inf"))
    return out


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
    keys = visible_keys(rows, k.shape[-2], causal)
    weights = torch.softmax(scores(q, k, rows, causal=causal, scale=scale, keys=keys), dim=-1)
    if keys == k.shape[-2]:
        return weights
    full = weights.new_zeros(*weights.shape[:-1], k.shape[-2])  # (..., r, s)
    full[..., :keys] = weights
    return full


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
    scale = default_scale(q.shape[-1]) if scale is None else scale
    out = torch.empty(*batch, q.shape[-2], v.shape[-1], dtype=work, device=q.device)
    values = v.to(work)
    row_bytes = 2 * num_heads * k.shape[-2] * torch.finfo(work).bits // 8  # scores + weights
    cap = block_cap(q.device)
    for rows in row_blocks(q.shape[-2], row_bytes, memory_budget, cache_block=cap):
        keys = visible_keys(rows, k.shape[-2], causal)  # causal: later keys are all hidden
        block = scores(q, k, rows, causal=causal, scale=scale, keys=keys)  # (..., r, keys)
        out[..., rows, :] = torch.softmax(block, dim=-1) @ values[..., :keys, :]
    return out


def fast_softmax_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    scale: float | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> torch.Tensor:
    """The exact output, fastest where memory stays bounded. Shapes: → (..., l, e).

    On a CPU with e = d: torch's SDPA on a 4-D (1, n, l, d) view, which selects its flash
    kernel there (blocked, O(l) memory). Otherwise SDPA may take its L×L math path (3-D inputs,
    e ≠ d, float64 or MPS elsewhere), so the row-blocked ``softmax_attention`` runs instead.
    """
    check_qkv(q, k, v)
    if q.device.type != "cpu" or v.shape[-1] != q.shape[-1]:
        return softmax_attention(q, k, v, causal=causal, scale=scale, memory_budget=memory_budget)
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    work = compute_dtype(q.dtype)

    def heads(t: torch.Tensor) -> torch.Tensor:  # (..., n, ·) → (1, n, ·, ·)
        return t.to(work).expand(*batch, *t.shape[-2:]).reshape(1, -1, *t.shape[-2:])

    scale = default_scale(q.shape[-1]) if scale is None else scale
    out = torch.nn.functional.scaled_dot_product_attention(
        heads(q), heads(k), heads(v), is_causal=causal, scale=scale
    )  # (1, n, l, e)
    return out.reshape(*batch, q.shape[-2], v.shape[-1])
