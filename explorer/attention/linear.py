"""Linear attention with any feature map: Ŷ = D⁻¹ φ(Q)(φ(K)ᵀ V), D = diag(φ(Q) φ(K)ᵀ 1).

Performer (Choromanski et al. 2021) Sec. 2.2 and Katharopoulos et al. 2020. Non-causal costs
O((l + s)·m·e). Causal uses prefix sums over key blocks (Katharopoulos Sec. 3.3.1), block by block
so the extra memory is O(chunk·(m + e) + m·e) instead of the s×m×e of a naive cumsum. D comes out
of the same products as the numerator: V gets a column of ones, [V, 1] (s, e + 1).

Normalisers. Nothing is clamped and no eps is added. Signed maps (trig): D_i can be ≤ 0; rows
with D_i < 0 keep their (meaningless but finite) value and are counted, and rows whose |D_i| is
below ``SMALL_NORMALIZER`` times the largest value it could take, Σ_j |φ(x_i)|·|φ(y_j)|, are
cancellation noise: their output is set to 0 and they are counted. Unsigned maps cannot cancel:
a row is empty only when D_i = 0 exactly (ReLU features with no overlap), and exponential maps,
whose D_i only underflows, have those rows recomputed exactly (``log_domain``). A softmax
output is a convex combination of the visible values, so rows with |ŷ_i| > max_j |v_j| are
counted as out of range: they show an approximation gone wrong (signed maps, tiny D_i).
Shapes: φ(q) (..., l, m), φ(k) (..., s, m), v (..., s, e) → (..., l, e).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from explorer.attention.exact import causal_mask
from explorer.attention.log_domain import log_domain_rows, log_domain_weights, underflow_floor
from explorer.kernels.feature_maps import Features

SMALL_NORMALIZER = 1e-6  # signed maps, relative to Σ_j |φ(x_i)||φ(y_j)|: D_i is rounding noise
DEFAULT_CHUNK = 128  # causal block length: fine-grained enough to keep the c×c block tiny
RANGE_TOLERANCE = 1e-5  # relative slack of the convex-hull check |ŷ_i| ≤ max_j |v_j|


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


def key_norm_bound(q_norms: torch.Tensor, k_norms: torch.Tensor, causal: bool) -> torch.Tensor:
    """|φ(x_i)|·Σ_{j visible} |φ(y_j)| ≥ |D_i|: the scale that 'small' is measured against."""
    if not causal:
        return q_norms * k_norms.sum(-1, keepdim=True)  # (..., l)
    prefix = torch.cumsum(k_norms, dim=-1)  # (..., s)
    last_key = torch.arange(q_norms.shape[-1], device=q_norms.device).clamp(
        max=k_norms.shape[-1] - 1
    )
    return q_norms * prefix[..., last_key]  # (..., l): query i sees keys 0..min(i, s-1)


def unusable_rows(
    normalizer: torch.Tensor, features: Features, *, causal: bool, rows: slice | None = None
) -> torch.Tensor:
    """Rows whose normaliser carries no usable value (see the module docstring). → (..., r)."""
    if features.signed:
        bound = key_norm_bound(features.query.norm(dim=-1), features.key.norm(dim=-1), causal)
        return normalizer.abs() <= SMALL_NORMALIZER * bound[..., rows or slice(None)]
    return normalizer <= 0


def underflowed_rows(normalizer: torch.Tensor, features: Features) -> torch.Tensor:
    """Rows of an exponential map whose normaliser is under ``underflow_floor``. → (..., r)."""
    if not features.exponential:
        return torch.zeros_like(normalizer, dtype=torch.bool)
    s, m = features.key.shape[-2:]
    return normalizer < underflow_floor(s, m, normalizer.dtype)


def _flat_rows(t: torch.Tensor, batch: torch.Size) -> torch.Tensor:
    return t.expand(*batch, *t.shape[-2:]).reshape(-1, *t.shape[-2:])  # (n, ·, ·)


def _recompute(features: Features, v: torch.Tensor | None, suspect: torch.Tensor, causal: bool):
    """Log-domain (output, normaliser) of the suspect rows, for every head. (n, r, e), (n, r)."""
    positions = suspect.reshape(-1, suspect.shape[-1]).any(0).nonzero().squeeze(-1)  # (r,)
    log_q, log_k = features.logits(positions)  # (..., r, m'), (..., s, m')
    batch = torch.broadcast_shapes(log_q.shape[:-2], log_k.shape[:-2], suspect.shape[:-1])
    values = None if v is None else _flat_rows(v, batch)
    out, log_d = log_domain_rows(
        _flat_rows(log_q, batch), _flat_rows(log_k, batch), values, positions, causal=causal
    )
    return positions, batch, out, log_d


def out_of_range(output: torch.Tensor, v: torch.Tensor, *, causal: bool) -> torch.Tensor:
    """Rows with |ŷ_i| above the largest visible |v_j| (impossible for softmax). → (..., l)."""
    v_norms = v.norm(dim=-1)  # (..., s)
    if causal:
        visible = torch.cummax(v_norms, dim=-1).values
        last = torch.arange(output.shape[-2], device=v.device).clamp(max=v.shape[-2] - 1)
        largest = visible[..., last]  # (..., l)
    else:
        largest = v_norms.amax(-1, keepdim=True)
    return output.norm(dim=-1) > largest * (1.0 + RANGE_TOLERANCE)


def linear_attention(
    features: Features,
    v: torch.Tensor,
    *,
    causal: bool = False,
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
    v = v.to(phi_q.dtype)
    v1 = with_ones(v)  # (..., s, e + 1)
    if causal:
        both = _causal(phi_q, phi_k, v1, chunk_size)  # (..., l, e + 1)
    else:
        both = phi_q @ (phi_k.transpose(-2, -1) @ v1)  # (..., l, e + 1)
    numerator, normalizer = both[..., :-1], both[..., -1].clone()  # (..., l, e), (..., l)
    output = numerator / normalizer.unsqueeze(-1)
    suspect = underflowed_rows(normalizer, features)
    recomputed = int(suspect.sum())
    if recomputed:  # rare: only causal rows of exponential maps at extreme norms
        positions, batch, exact_rows, log_d = _recompute(features, v, suspect, causal)
        shape = (*batch, phi_q.shape[-2])
        output = output.expand(*shape, output.shape[-1]).clone()
        normalizer = normalizer.expand(shape).clone()
        flat_out = output.view(-1, *output.shape[-2:])  # (n, l, e)
        flat_mask = suspect.expand(shape).reshape(-1, shape[-1])[:, positions]  # (n, r)
        chosen = flat_out[:, positions]
        chosen[flat_mask] = exact_rows[flat_mask]
        flat_out[:, positions] = chosen
        flat_d = normalizer.view(-1, shape[-1])
        picked = flat_d[:, positions]
        picked[flat_mask] = torch.exp(log_d[flat_mask])
        flat_d[:, positions] = picked
    small = unusable_rows(normalizer, features, causal=causal) & ~suspect
    if bool(small.any()):
        output = output.masked_fill(small.unsqueeze(-1), 0.0)  # (..., l, e)
    negative = int(((normalizer < 0) & ~small).sum())
    wild = int((out_of_range(output, v, causal=causal) & ~small).sum())
    return LinearAttention(
        output=output,
        normalizer=normalizer,
        negative_rows=negative,
        small_rows=int(small.sum()),
        out_of_range_rows=wild,
        recomputed_rows=recomputed,
    )


def _causal(phi_q, phi_k, v1, chunk_size: int) -> torch.Tensor:
    """Blocked prefix sums: state S = Σ_{j<a} φ(k_j)[v_j, 1]ᵀ carried from block to block."""
    batch = torch.broadcast_shapes(phi_q.shape[:-2], phi_k.shape[:-2], v1.shape[:-2])
    num_q, num_k, m, e1 = phi_q.shape[-2], phi_k.shape[-2], phi_q.shape[-1], v1.shape[-1]
    dtype, device = phi_q.dtype, phi_q.device
    state = torch.zeros(*batch, m, e1, dtype=dtype, device=device)  # (..., m, e + 1)
    both = torch.empty(*batch, num_q, e1, dtype=dtype, device=device)  # (..., l, e + 1)
    hidden = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=device).triu(1)
    for start in range(0, num_q, chunk_size):
        stop = min(num_q, start + chunk_size)
        fq = phi_q[..., start:stop, :]  # (..., c, m)
        k_stop = min(stop, num_k)  # keys of this block that exist (cross-attention: s ≠ l)
        fk = phi_k[..., start:k_stop, :]  # (..., c', m)
        vk = v1[..., start:k_stop, :]  # (..., c', e + 1)
        within = fq @ fk.transpose(-2, -1)  # (..., c, c')
        within.masked_fill_(hidden[: stop - start, : fk.shape[-2]], 0.0)  # sees keys j ≤ i
        part = fq @ state  # (..., c, e + 1): keys before the block
        part += within @ vk
        both[..., start:stop, :] = part
        if fk.shape[-2]:
            state += fk.transpose(-2, -1) @ vk
    return both


def approximate_weights(
    features: Features, *, rows: slice | None = None, causal: bool = False
) -> torch.Tensor:
    """P̂ = D⁻¹ φ(Q)φ(K)ᵀ for a block of query rows (for maps and metrics only).

    Unusable rows are zeros and underflowed rows are recomputed, exactly as in
    ``linear_attention``. Shapes: → (..., rows, s).
    """
    rows = rows or slice(0, features.query.shape[-2])
    kernel = features.query[..., rows, :] @ features.key.transpose(-2, -1)  # (..., r, s)
    if causal:
        kernel.masked_fill_(causal_mask(rows, features.key.shape[-2], kernel.device), 0.0)
    normalizer = kernel.sum(-1)  # (..., r)
    suspect = underflowed_rows(normalizer, features)
    small = unusable_rows(normalizer, features, causal=causal, rows=rows) & ~suspect
    kernel.div_(torch.where(small, torch.ones_like(normalizer), normalizer).unsqueeze(-1))
    if bool(small.any()):
        kernel.masked_fill_(small.unsqueeze(-1), 0.0)
    if bool(suspect.any()):
        index = torch.arange(rows.start, rows.stop, device=kernel.device)
        chosen = suspect.reshape(-1, suspect.shape[-1]).any(0).nonzero().squeeze(-1)
        log_q, log_k = features.logits(index[chosen])
        batch = torch.broadcast_shapes(log_q.shape[:-2], log_k.shape[:-2])
        exact = log_domain_weights(
            _flat_rows(log_q, batch), _flat_rows(log_k, batch), index[chosen], causal=causal
        )  # (n, r', s)
        kernel = kernel.expand(*batch, *kernel.shape[-2:]).clone()
        flat = kernel.view(-1, *kernel.shape[-2:])
        mask = suspect.expand(*batch, suspect.shape[-1]).reshape(-1, suspect.shape[-1])[:, chosen]
        picked = flat[:, chosen]
        picked[mask] = exact[mask]
        flat[:, chosen] = picked
    return kernel
