"""Exact softmax attention, the reference: Y = softmax(Q Kᵀ·scale + mask) V (Vaswani et al. 2017).

Written out explicitly (like the pure-Python reference in torch's SDPA docstring) and computed in
blocks of query rows, so no more than ``memory_budget`` bytes of the l×s score matrix exist at
once. Masks (``masks``): causal as SDPA's ``is_causal`` (query i sees keys j ≤ i), a sliding
window of w (i − w < j ≤ i), and soft-capped logits c·tanh(t/c) (Gemma 2). Grouped-query
heads broadcast: q (..., h_kv, g, l, d) against k, v (..., h_kv, 1, s, ·).
Shapes: q (..., l, d), k (..., s, d), v (..., s, e) → (..., l, e); leading dims broadcast.
"""

from __future__ import annotations

import math

import torch

from explorer.attention.blocks import DEFAULT_MEMORY_BUDGET, block_cap, row_blocks
from explorer.attention.masks import check_mask, hidden_keys, key_span, softcap
from explorer.device import compute_dtype

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "check_qkv",
    "default_scale",
    "exact_weights",
    "fast_softmax_attention",
    "scores",
    "softmax_attention",
]


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


def scores(
    q: torch.Tensor,
    k: torch.Tensor,
    rows: slice,
    *,
    causal: bool,
    scale: float,
    keys: int,
    window: int | None = None,
    cap: float | None = None,
) -> torch.Tensor:
    """Q Kᵀ·scale (soft-capped) for a block of rows and the first ``keys`` keys, −inf where hidden.

    Shapes: q (..., l, d), k (..., s, d) → (..., r, keys).
    """
    work = compute_dtype(q.dtype)
    block = q[..., rows, :].to(work) * scale  # (..., r, d): scaling r·d entries, not r·s
    out = softcap(block @ k[..., :keys, :].to(work).transpose(-2, -1), cap)  # (..., r, keys)
    positions = torch.arange(rows.start, rows.stop, device=q.device)
    hidden = hidden_keys(positions, keys, causal=causal, window=window)  # (r, keys) or None
    if hidden is not None:
        out.masked_fill_(hidden, float("-inf"))
    return out


def exact_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    *,
    rows: slice | None = None,
    causal: bool = False,
    scale: float | None = None,
    window: int | None = None,
    cap: float | None = None,
) -> torch.Tensor:
    """softmax(Q Kᵀ·scale + mask) for a block of query rows. Shapes: → (..., rows, s)."""
    check_mask(causal=causal, window=window)
    rows = rows or slice(0, q.shape[-2])
    scale = default_scale(q.shape[-1]) if scale is None else scale
    keys = key_span(rows.start, rows.stop, k.shape[-2], causal=causal)
    block = scores(q, k, rows, causal=causal, scale=scale, keys=keys, window=window, cap=cap)
    weights = torch.softmax(block, dim=-1)
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
    window: int | None = None,
    cap: float | None = None,
) -> torch.Tensor:
    """Exact attention output, computed in row blocks. Shapes: → (..., l, e)."""
    check_qkv(q, k, v)
    check_mask(causal=causal, window=window)
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    num_heads = math.prod(batch)
    work = compute_dtype(q.dtype)
    scale = default_scale(q.shape[-1]) if scale is None else scale
    out = torch.empty(*batch, q.shape[-2], v.shape[-1], dtype=work, device=q.device)
    values = v.to(work)
    row_bytes = 2 * num_heads * k.shape[-2] * torch.finfo(work).bits // 8  # scores + weights
    cap_bytes = block_cap(q.device)
    for rows in row_blocks(q.shape[-2], row_bytes, memory_budget, cache_block=cap_bytes):
        keys = key_span(rows.start, rows.stop, k.shape[-2], causal=causal)  # later keys hidden
        block = scores(q, k, rows, causal=causal, scale=scale, keys=keys, window=window, cap=cap)
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
    window: int | None = None,
    cap: float | None = None,
) -> torch.Tensor:
    """The exact output, fastest where memory stays bounded. Shapes: → (..., l, e).

    On a CPU with e = d, no window and no soft-cap: torch's SDPA on 4-D (1, n, l, d) views,
    which selects its flash kernel there (blocked, O(l) memory), grouped-query heads through
    its ``enable_gqa`` (no repeated K/V). Otherwise SDPA may take its L×L math path (3-D
    inputs, e ≠ d, explicit masks, float64 or MPS elsewhere), so the row-blocked
    ``softmax_attention`` runs instead.
    """
    check_qkv(q, k, v)
    blocked = q.device.type != "cpu" or v.shape[-1] != q.shape[-1] or window or cap
    if blocked or q.dim() > 4:
        return softmax_attention(
            q, k, v, causal=causal, scale=scale, memory_budget=memory_budget, window=window,
            cap=cap,
        )  # fmt: skip
    work = compute_dtype(q.dtype)
    grouped = q.dim() == 4 and k.shape[-3] == 1 and v.shape[-3] == 1  # (h_kv, g, ·) vs (h_kv, 1, ·)
    if grouped:
        batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])  # (h_kv, g)
        out = torch.nn.functional.scaled_dot_product_attention(
            q.to(work).expand(*batch, *q.shape[-2:]).reshape(1, -1, *q.shape[-2:]),  # (1, h, l, d)
            k.to(work).reshape(1, -1, *k.shape[-2:]),  # (1, h_kv, s, d): no repeated copy
            v.to(work).reshape(1, -1, *v.shape[-2:]),  # (1, h_kv, s, e)
            is_causal=causal,
            scale=default_scale(q.shape[-1]) if scale is None else scale,
            enable_gqa=True,
        )  # (1, h, l, e)
        return out.reshape(*batch, q.shape[-2], v.shape[-1])
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])

    def heads(t: torch.Tensor) -> torch.Tensor:  # (..., n, ·) → (1, n, ·, ·)
        return t.to(work).expand(*batch, *t.shape[-2:]).reshape(1, -1, *t.shape[-2:])

    scale = default_scale(q.shape[-1]) if scale is None else scale
    out = torch.nn.functional.scaled_dot_product_attention(
        heads(q), heads(k), heads(v), is_causal=causal, scale=scale
    )  # (1, n, l, e)
    return out.reshape(*batch, q.shape[-2], v.shape[-1])
