"""Linear attention with any feature map: Ŷ = D⁻¹ φ(Q)(φ(K)ᵀ V), D = diag(φ(Q) φ(K)ᵀ 1).

Performer (Choromanski et al. 2021) Sec. 2.2 and Katharopoulos et al. 2020. Non-causal costs
O((l + s)·m·e). Causal uses prefix sums over key blocks (Katharopoulos Sec. 3.3.1), block by block
so the extra memory is O(chunk·(m + e) + m·e) instead of the s×m×e of a naive cumsum. A sliding
window of w keys (i − w < j ≤ i) subtracts a second, lagged prefix: A(i + 1) − A(i − w + 1), with
A(t) = Σ_{j<t} φ(k_j)[v_j, 1]ᵀ, one more c×c block per step (the rows of the lagged block that
some queries still see). D comes out of the same products as the numerator: V gets a column of
ones, [V, 1] (s, e + 1). Nothing is clamped and no eps is added; which rows can be trusted is
``normalizers``' business. Grouped-query heads broadcast: φ(q) (..., h_kv, g, l, m) against
φ(k), v (..., h_kv, 1, s, ·). ``approximate_weights`` gives P̂ itself, for maps and metrics.
Shapes: φ(q) (..., l, m), φ(k) (..., s, m), v (..., s, e) → (..., l, e).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from explorer.attention.log_domain import log_domain_weights
from explorer.attention.masks import check_mask, hidden_keys
from explorer.attention.normalizers import (
    SMALL_NORMALIZER,
    flat_rows,
    out_of_range,
    recompute_rows,
    underflowed_rows,
    unusable_rows,
)
from explorer.kernels.feature_maps import Features

__all__ = ["DEFAULT_CHUNK", "SMALL_NORMALIZER", "LinearAttention", "linear_attention"]
DEFAULT_CHUNK = 128  # causal block length: fine-grained enough to keep the c×c block tiny


@dataclass(frozen=True, kw_only=True)
class LinearAttention:
    """Output and normaliser diagnostics of one linear-attention call."""

    output: torch.Tensor  # (..., l, e)
    normalizer: torch.Tensor  # (..., l): D_i (times the per-query stabiliser factor)
    negative_rows: int  # rows with D_i < 0 (signed maps; not small)
    small_rows: int  # rows without a usable D_i (cancelled or exactly 0): output set to 0
    out_of_range_rows: int = 0  # rows with |ŷ_i| > max_j |v_j| over visible keys
    recomputed_rows: int = 0  # rows recomputed in the log domain (products underflowed)


def with_ones(v: torch.Tensor) -> torch.Tensor:
    """[V, 1]: one product then gives numerator and normaliser. Shapes: (..., s, e + 1)."""
    out = torch.ones(*v.shape[:-1], v.shape[-1] + 1, dtype=v.dtype, device=v.device)
    out[..., :-1] = v
    return out


def linear_attention(
    features: Features,
    v: torch.Tensor,
    *,
    causal: bool = False,
    window: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> LinearAttention:
    """Ŷ = D⁻¹ φ(Q)(φ(K)ᵀ V), causal by blocked prefix sums. Shapes: → (..., l, e)."""
    phi_q, phi_k = features.query, features.key
    if phi_q.shape[-1] != phi_k.shape[-1]:
        raise ValueError(f"feature dims differ: {phi_q.shape[-1]} vs {phi_k.shape[-1]}")
    if phi_k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v lengths differ: {phi_k.shape[-2]} vs {v.shape[-2]}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    check_mask(causal=causal, window=window)
    v = v.to(phi_q.dtype)
    v1 = with_ones(v)  # (..., s, e + 1)
    if causal:
        both = _causal(phi_q, phi_k, v1, chunk_size, window)  # (..., l, e + 1)
    else:
        both = phi_q @ (phi_k.transpose(-2, -1) @ v1)  # (..., l, e + 1)
    numerator, normalizer = both[..., :-1], both[..., -1].clone()  # (..., l, e), (..., l)
    output = numerator / normalizer.unsqueeze(-1)
    suspect = underflowed_rows(normalizer, features)
    recomputed = int(suspect.sum())
    if recomputed:  # rare: only causal rows of exponential maps at extreme norms
        output, normalizer = _replace_rows(features, v, suspect, output, normalizer, causal, window)
    small = unusable_rows(normalizer, features, causal=causal, window=window) & ~suspect
    if bool(small.any()):
        output = output.masked_fill(small.unsqueeze(-1), 0.0)  # (..., l, e)
    negative = int(((normalizer < 0) & ~small).sum())
    wild = int((out_of_range(output, v, causal=causal, window=window) & ~small).sum())
    return LinearAttention(
        output=output,
        normalizer=normalizer,
        negative_rows=negative,
        small_rows=int(small.sum()),
        out_of_range_rows=wild,
        recomputed_rows=recomputed,
    )


def _replace_rows(features, v, suspect, output, normalizer, causal, window):
    """Outputs and normalisers with the suspect rows taken from their log-domain values."""
    positions, batch, exact_rows, log_d = recompute_rows(
        features, v, suspect, causal=causal, window=window
    )
    shape = (*batch, features.query.shape[-2])
    output = output.expand(*shape, output.shape[-1]).clone()
    normalizer = normalizer.expand(shape).clone()
    flat_out = output.view(-1, *output.shape[-2:])  # (n, l, e)
    mask = suspect.expand(shape).reshape(-1, shape[-1])[:, positions]  # (n, r)
    chosen = flat_out[:, positions]
    chosen[mask] = exact_rows[mask]
    flat_out[:, positions] = chosen
    flat_d = normalizer.view(-1, shape[-1])
    picked = flat_d[:, positions]
    picked[mask] = torch.exp(log_d[mask])
    flat_d[:, positions] = picked
    return output, normalizer


def _causal(phi_q, phi_k, v1, chunk_size: int, window: int | None) -> torch.Tensor:
    """Blocked prefix sums: states A(a) (and A(a − w + 1)) carried from block to block."""
    batch = torch.broadcast_shapes(phi_q.shape[:-2], phi_k.shape[:-2], v1.shape[:-2])
    num_q, num_k, m, e1 = phi_q.shape[-2], phi_k.shape[-2], phi_q.shape[-1], v1.shape[-1]
    dtype, device = phi_q.dtype, phi_q.device
    state = torch.zeros(*batch, m, e1, dtype=dtype, device=device)  # A(a): keys j < a
    lagged = None if window is None else torch.zeros_like(state)  # A(a − w + 1)
    c = chunk_size
    offsets = torch.arange(c, device=device)
    later = offsets.unsqueeze(0) > offsets.unsqueeze(1)  # (c, c): key offset > query offset
    for start in range(0, num_q, c):
        stop = min(num_q, start + c)
        fq = phi_q[..., start:stop, :]  # (..., r, m)
        k_stop = min(stop, num_k)  # keys of this block that exist (cross-attention: s ≠ l)
        fk = phi_k[..., start:k_stop, :]  # (..., c', m)
        vk = v1[..., start:k_stop, :]  # (..., c', e + 1)
        within = fq @ fk.transpose(-2, -1)  # (..., r, c')
        within.masked_fill_(later[: stop - start, : fk.shape[-2]], 0.0)  # sees keys j ≤ i
        part = fq @ state  # (..., r, e + 1): keys before the block
        part += within @ vk
        if lagged is not None:  # minus keys j < i − w + 1: the lagged prefix and its block
            part -= fq @ lagged
            lo = start - window + 1  # the lagged block holds keys lo .. lo + c − 1
            first, last = max(lo, 0), min(lo + (stop - start), num_k)
            if last > first:
                fl, vl = phi_k[..., first:last, :], v1[..., first:last, :]  # (..., c'', ·)
                gone = fq @ fl.transpose(-2, -1)  # (..., r, c''); key lo + u is gone for u < r
                u = torch.arange(first - lo, last - lo, device=device)
                gone.masked_fill_(u.unsqueeze(0) >= offsets[: stop - start].unsqueeze(1), 0.0)
                part -= gone @ vl
                lagged += fl.transpose(-2, -1) @ vl
        both_block = part
        if start == 0:
            both = torch.empty(*both_block.shape[:-2], num_q, e1, dtype=dtype, device=device)
        both[..., start:stop, :] = both_block
        if fk.shape[-2]:
            state += fk.transpose(-2, -1) @ vk
    return both


def approximate_weights(
    features: Features,
    *,
    rows: slice | None = None,
    causal: bool = False,
    window: int | None = None,
) -> torch.Tensor:
    """P̂ = D⁻¹ φ(Q)φ(K)ᵀ for a block of query rows (for maps and metrics only).

    Unusable rows are zeros and underflowed rows are recomputed, exactly as in
    ``linear_attention``. Shapes: → (..., rows, s).
    """
    check_mask(causal=causal, window=window)
    rows = rows or slice(0, features.query.shape[-2])
    kernel = features.query[..., rows, :] @ features.key.transpose(-2, -1)  # (..., r, s)
    index = torch.arange(rows.start, rows.stop, device=kernel.device)  # (r,) query positions
    hidden = hidden_keys(index, kernel.shape[-1], causal=causal, window=window)
    if hidden is not None:
        kernel.masked_fill_(hidden, 0.0)
    normalizer = kernel.sum(-1)  # (..., r)
    suspect = underflowed_rows(normalizer, features)
    small = unusable_rows(normalizer, features, causal=causal, window=window, rows=rows)
    small &= ~suspect
    kernel.div_(torch.where(small, torch.ones_like(normalizer), normalizer).unsqueeze(-1))
    if bool(small.any()):
        kernel.masked_fill_(small.unsqueeze(-1), 0.0)
    if bool(suspect.any()):
        chosen = suspect.reshape(-1, suspect.shape[-1]).any(0).nonzero().squeeze(-1)
        log_q, log_k = features.logits(index[chosen])
        batch = torch.broadcast_shapes(log_q.shape[:-2], log_k.shape[:-2], suspect.shape[:-1])
        exact = log_domain_weights(
            flat_rows(log_q, batch),
            flat_rows(log_k, batch),
            index[chosen],
            causal=causal,
            window=window,
        )  # (n, r', s)
        kernel = kernel.expand(*batch, *kernel.shape[-2:]).clone()
        flat = kernel.view(-1, *kernel.shape[-2:])
        mask = suspect.expand(*batch, suspect.shape[-1]).reshape(-1, suspect.shape[-1])[:, chosen]
        picked = flat[:, chosen]
        picked[mask] = exact[mask]
        flat[:, chosen] = picked
    return kernel
