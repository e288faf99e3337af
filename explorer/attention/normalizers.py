"""Normalisers of linear attention, D_i = φ(x_i)·Σ_j φ(y_j): which rows can be trusted.

Signed maps (trig) can cancel: a row whose |D_i| is below ``SMALL_NORMALIZER`` times the
largest value it could take, |φ(x_i)|·Σ_{j visible}|φ(y_j)| (Cauchy–Schwarz), is rounding noise.
Unsigned maps cannot cancel: only D_i = 0 is unusable (ReLU features with no overlap).
Exponential maps only underflow: rows under ``log_domain.underflow_floor`` are recomputed
exactly. A softmax output is a convex combination of the values a query sees, so |ŷ_i| above
the largest visible |v_j| flags an approximation gone wrong (signed maps, tiny D_i).
Shapes: normalisers (..., l), φ (..., l|s, m), v (..., s, e).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer.attention.log_domain import log_domain_rows, underflow_floor
from explorer.kernels.feature_maps import Features

SMALL_NORMALIZER = 1e-6  # signed maps, relative to Σ_j |φ(x_i)||φ(y_j)|: D_i is rounding noise
RANGE_TOLERANCE = 1e-5  # relative slack of the convex-hull check |ŷ_i| ≤ max_j |v_j|


def _last_keys(num_queries: int, num_keys: int, device: torch.device) -> torch.Tensor:
    return torch.arange(num_queries, device=device).clamp(max=num_keys - 1)  # (l,)


def visible_sum(values: torch.Tensor, num_queries: int, *, window: int | None) -> torch.Tensor:
    """Σ of ``values`` over the keys each query sees (causal, windowed). (..., s) → (..., l)."""
    prefix = torch.cumsum(values, dim=-1)  # (..., s)
    last = _last_keys(num_queries, values.shape[-1], values.device)
    total = prefix[..., last]
    if window is not None:  # minus the keys that fell out of the window: j ≤ i − w
        before = torch.arange(num_queries, device=values.device) - window
        gone = prefix[..., before.clamp(min=0)] * (before >= 0)
        total = total - gone
    return total


def key_norm_bound(
    q_norms: torch.Tensor, k_norms: torch.Tensor, *, causal: bool, window: int | None = None
) -> torch.Tensor:
    """|φ(x_i)|·Σ_{j visible} |φ(y_j)| ≥ |D_i|: the scale that 'small' is measured against."""
    if not causal:
        return q_norms * k_norms.sum(-1, keepdim=True)  # (..., l)
    return q_norms * visible_sum(k_norms, q_norms.shape[-1], window=window)


def unusable_rows(
    normalizer: torch.Tensor,
    features: Features,
    *,
    causal: bool,
    window: int | None = None,
    rows: slice | None = None,
) -> torch.Tensor:
    """Rows whose normaliser carries no usable value (see the module docstring). → (..., r)."""
    if features.signed:
        q_norms, k_norms = features.query.norm(dim=-1), features.key.norm(dim=-1)
        bound = key_norm_bound(q_norms, k_norms, causal=causal, window=window)
        return normalizer.abs() <= SMALL_NORMALIZER * bound[..., rows or slice(None)]
    return normalizer <= 0


def underflowed_rows(normalizer: torch.Tensor, features: Features) -> torch.Tensor:
    """Rows of an exponential map whose normaliser is under ``underflow_floor``. → (..., r)."""
    if not features.exponential:
        return torch.zeros_like(normalizer, dtype=torch.bool)
    s, m = features.key.shape[-2:]
    return normalizer < underflow_floor(s, m, normalizer.dtype)


def flat_rows(t: torch.Tensor, batch: torch.Size) -> torch.Tensor:
    return t.expand(*batch, *t.shape[-2:]).reshape(-1, *t.shape[-2:])  # (n, ·, ·)


def recompute_rows(
    features: Features,
    v: torch.Tensor | None,
    suspect: torch.Tensor,
    *,
    causal: bool,
    window: int | None = None,
):
    """Log-domain (positions, batch, output (n, r, e), log D (n, r)) of the suspect rows."""
    positions = suspect.reshape(-1, suspect.shape[-1]).any(0).nonzero().squeeze(-1)  # (r,)
    log_q, log_k = features.logits(positions)  # (..., r, m'), (..., s, m')
    batch = torch.broadcast_shapes(log_q.shape[:-2], log_k.shape[:-2], suspect.shape[:-1])
    values = None if v is None else flat_rows(v, batch)
    out, log_d = log_domain_rows(
        flat_rows(log_q, batch),
        flat_rows(log_k, batch),
        values,
        positions,
        causal=causal,
        window=window,
    )
    return positions, batch, out, log_d


def out_of_range(
    output: torch.Tensor, v: torch.Tensor, *, causal: bool, window: int | None = None
) -> torch.Tensor:
    """Rows with |ŷ_i| above the largest visible |v_j| (impossible for softmax). → (..., l)."""
    v_norms = v.norm(dim=-1)  # (..., s)
    if not causal:
        largest = v_norms.amax(-1, keepdim=True)
    else:
        if window is None:
            running = torch.cummax(v_norms, dim=-1).values
        else:  # the largest of the last w keys: a max-pool over a window ending at each key
            lead = v_norms.shape[:-1]
            padded = F.pad(v_norms.reshape(-1, 1, v_norms.shape[-1]), (window - 1, 0), value=0.0)
            running = F.max_pool1d(padded, window, stride=1).reshape(*lead, -1)  # (..., s)
        largest = running[..., _last_keys(output.shape[-2], v.shape[-2], v.device)]
    return output.norm(dim=-1) > largest * (1.0 + RANGE_TOLERANCE)
