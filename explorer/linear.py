"""Linear attention with any feature map: Ŷ = D⁻¹ φ(Q)(φ(K)ᵀ V), D = diag(φ(Q) φ(K)ᵀ 1).

Performer (Choromanski et al. 2021) Sec. 2.2 and Katharopoulos et al. 2020. Non-causal costs
O((l + s)·m·e). Causal uses prefix sums over key blocks (Katharopoulos Sec. 3.3.1), block by block
so the extra memory is O(chunk·(m + e) + m·e) instead of the s×m×e of a naive cumsum.

Normalisers D_i of signed maps (trig) can be ≤ 0. Nothing is clamped and no eps is added: rows
with D_i < 0 keep their (meaningless but finite) value and are counted; rows whose |D_i| is below
``SMALL_NORMALIZER`` times the largest value it could take, Σ_j |φ(x_i)|·|φ(y_j)|, have no usable
output: it is set to 0 there and they are counted, so no NaN appears silently.
Shapes: φ(q) (..., l, m), φ(k) (..., s, m), v (..., s, e) → (..., l, e).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from explorer.exact import causal_mask

SMALL_NORMALIZER = 1e-6  # relative to Σ_j |φ(x_i)||φ(y_j)|: below it, D_i is rounding noise
DEFAULT_CHUNK = 128  # causal block length: fine-grained enough to keep the c×c block tiny


@dataclass(frozen=True)
class LinearAttention:
    """Output and normaliser diagnostics of one linear-attention call."""

    output: torch.Tensor  # (..., l, e)
    normalizer: torch.Tensor  # (..., l): D_i
    negative_rows: int  # rows with D_i < 0 (and not small)
    small_rows: int  # rows with |D_i| ≈ 0: output set to 0


def _finish(
    numerator: torch.Tensor, normalizer: torch.Tensor, bound: torch.Tensor
) -> LinearAttention:
    """Divide, with small normalisers counted and zeroed instead of producing inf/NaN."""
    small = normalizer.abs() <= SMALL_NORMALIZER * bound  # (..., l)
    safe = torch.where(small, torch.ones_like(normalizer), normalizer)
    output = numerator / safe.unsqueeze(-1)  # (..., l, e)
    output = output.masked_fill(small.unsqueeze(-1), 0.0)
    negative = (normalizer < 0) & ~small
    return LinearAttention(output, normalizer, int(negative.sum()), int(small.sum()))


def linear_attention(
    phi_q: torch.Tensor,
    phi_k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
) -> LinearAttention:
    """Ŷ = D⁻¹ φ(Q)(φ(K)ᵀ V), causal by blocked prefix sums. Shapes: → (..., l, e)."""
    if phi_q.shape[-1] != phi_k.shape[-1]:
        raise ValueError(f"feature dims differ: {phi_q.shape[-1]} vs {phi_k.shape[-1]}")
    if phi_k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v lengths differ: {phi_k.shape[-2]} vs {v.shape[-2]}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    v = v.to(phi_q.dtype)
    if causal:
        numerator, normalizer = _causal(phi_q, phi_k, v, chunk_size)
    else:
        kv = phi_k.transpose(-2, -1) @ v  # (..., m, e)
        k_sum = phi_k.sum(dim=-2)  # (..., m)
        numerator = phi_q @ kv  # (..., l, e)
        normalizer = (phi_q * k_sum.unsqueeze(-2)).sum(-1)  # (..., l)
    bound = _key_norm_bound(phi_q.norm(dim=-1), phi_k.norm(dim=-1), causal)
    return _finish(numerator, normalizer, bound)


def _key_norm_bound(q_norms: torch.Tensor, k_norms: torch.Tensor, causal: bool) -> torch.Tensor:
    """|φ(x_i)|·Σ_{j visible} |φ(y_j)| ≥ |D_i|: the scale that 'small' is measured against."""
    if not causal:
        return q_norms * k_norms.sum(-1, keepdim=True)  # (..., l)
    prefix = torch.cumsum(k_norms, dim=-1)  # (..., s)
    last_key = torch.arange(q_norms.shape[-1], device=q_norms.device).clamp(
        max=k_norms.shape[-1] - 1
    )
    return q_norms * prefix[..., last_key]  # (..., l): query i sees keys 0..min(i, s-1)


def _causal(phi_q, phi_k, v, chunk_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Blocked prefix sums: state S = Σ_{j<a} φ(k_j) v_jᵀ carried from block to block."""
    batch = torch.broadcast_shapes(phi_q.shape[:-2], phi_k.shape[:-2], v.shape[:-2])
    num_q, num_k, m, e = phi_q.shape[-2], phi_k.shape[-2], phi_q.shape[-1], v.shape[-1]
    dtype, device = phi_q.dtype, phi_q.device
    state = torch.zeros(*batch, m, e, dtype=dtype, device=device)  # (..., m, e)
    k_sum = torch.zeros(*batch, m, dtype=dtype, device=device)  # (..., m)
    numerator = torch.empty(*batch, num_q, e, dtype=dtype, device=device)  # (..., l, e)
    normalizer = torch.empty(*batch, num_q, dtype=dtype, device=device)  # (..., l)
    for start in range(0, num_q, chunk_size):
        stop = min(num_q, start + chunk_size)
        fq = phi_q[..., start:stop, :]  # (..., c, m)
        k_stop = min(stop, num_k)  # keys of this block that exist (cross-attention: s ≠ l)
        fk = phi_k[..., start:k_stop, :]  # (..., c', m)
        vk = v[..., start:k_stop, :]  # (..., c', e)
        within = fq @ fk.transpose(-2, -1)  # (..., c, c')
        visible = torch.ones(stop - start, fk.shape[-2], dtype=torch.bool, device=device)
        within = within * torch.tril(visible)  # query i sees keys j ≤ i of its own block
        numerator[..., start:stop, :] = fq @ state + within @ vk
        normalizer[..., start:stop] = (fq * k_sum.unsqueeze(-2)).sum(-1) + within.sum(-1)
        if fk.shape[-2]:
            state = state + fk.transpose(-2, -1) @ vk
            k_sum = k_sum + fk.sum(-2)
    return numerator, normalizer


def approximate_weights(
    phi_q: torch.Tensor, phi_k: torch.Tensor, *, rows: slice | None = None, causal: bool = False
) -> torch.Tensor:
    """P̂ = D⁻¹ φ(Q)φ(K)ᵀ for a block of query rows (for maps and metrics only).

    Rows with |D_i| ≈ 0 are zeros, exactly as in ``linear_attention``. Shapes: → (..., rows, s).
    """
    rows = rows or slice(0, phi_q.shape[-2])
    kernel = phi_q[..., rows, :] @ phi_k.transpose(-2, -1)  # (..., r, s)
    if causal:
        kernel = kernel.masked_fill(causal_mask(rows, phi_k.shape[-2], phi_q.device), 0.0)
    normalizer = kernel.sum(-1)  # (..., r)
    bound = _key_norm_bound(phi_q.norm(dim=-1), phi_k.norm(dim=-1), causal)[..., rows]
    small = normalizer.abs() <= SMALL_NORMALIZER * bound  # (..., r)
    safe = torch.where(small, torch.ones_like(normalizer), normalizer)
    return (kernel / safe.unsqueeze(-1)).masked_fill(small.unsqueeze(-1), 0.0)
