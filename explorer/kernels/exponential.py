"""Exponential feature maps φ = exp(ℓ): unbiased estimators of exp(x·y) with Gaussian rows.

Performer (Choromanski et al. 2021) Lemma 1 and eq. 5; FAVOR++ (Likhosherstov et al. 2022).
Each function returns the exponents ℓ(x) of queries (rows ``rows``) and ℓ(y) of keys, with the
1/√m normalisation inside; ``feature_maps.FeatureMap`` stabilises and exponentiates them.
Shapes: x (..., l, d), y (..., s, d), W (m, d) → (..., r, m'), (..., s, m').
"""

from __future__ import annotations

import math

import torch

from explorer.kernels.products import project

Pair = tuple[torch.Tensor, torch.Tensor]


def _half_sq_norm(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x * x).sum(dim=-1, keepdim=True)  # (..., l, 1)


def positive_exponent(x, y, w, *, rows=slice(None)) -> Pair:
    """FAVOR+: ℓ = Wx − |x|²/2 − ½ log m (Performer Lemma 1)."""
    log_norm = 0.5 * math.log(w.shape[0])
    xr = x[..., rows, :]
    wx, wy = project(x, w, rows), project(y, w)  # (..., r, m), (..., s, m): read-only
    return wx - (_half_sq_norm(xr) + log_norm), wy - (_half_sq_norm(y) + log_norm)


def hyperbolic_exponent(x, y, w, *, rows=slice(None)) -> Pair:
    """ℓ = [Wx, −Wx] − |x|²/2 − ½ log 2m (Performer eq. 5, SM^hyp+)."""
    log_norm = 0.5 * math.log(2 * w.shape[0])
    xr = x[..., rows, :]
    wx, wy = project(x, w, rows), project(y, w)  # (..., r, m), (..., s, m): read-only
    log_x = _plus_minus(wx, _half_sq_norm(xr) + log_norm)  # (..., r, 2m)
    log_y = _plus_minus(wy, _half_sq_norm(y) + log_norm)  # (..., s, 2m)
    return log_x, log_y


def _plus_minus(wx: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """[Wx − o, −Wx − o] in one buffer, a pass per half. (..., r, m), (..., r, 1) → (..., r, 2m)"""
    m = wx.shape[-1]
    out = torch.empty(*wx.shape[:-1], 2 * m, dtype=wx.dtype, device=wx.device)
    torch.sub(wx, offset, out=out[..., :m])
    torch.sub(offset.neg(), wx, out=out[..., m:])
    return out


def optimal_oprf_a(mean_sq_sum: torch.Tensor, head_dim: int) -> torch.Tensor:
    """A* minimising the OPRF variance for ρ = mean |x_i + y_j|² (Likhosherstov et al. 2022).

    A* = (1 − 2φ − √((2φ + 1)² + 8φ)) / 16 with φ = ρ/d; A* ≤ 0, and A* = 0 when ρ = 0.
    """
    phi = mean_sq_sum / head_dim
    return (1.0 - 2.0 * phi - torch.sqrt((2.0 * phi + 1.0) ** 2 + 8.0 * phi)) / 16.0


def mean_pair_sq_sum(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over all pairs of |x_i + y_j|² in O((l + s)·d). Shapes: → (...)."""
    sq_x = (x * x).sum(-1).mean(-1)  # (...)
    sq_y = (y * y).sum(-1).mean(-1)  # (...)
    cross = (x.mean(-2) * y.mean(-2)).sum(-1)  # (...)
    return sq_x + sq_y + 2.0 * cross


def oprf_exponent(x, y, w, *, rows=slice(None), a: torch.Tensor | float | None = None) -> Pair:
    """FAVOR++: ℓ = A|w|² + B·Wx − |x|²/2 + log D − ½ log m, A fitted per head unless given."""
    d = x.shape[-1]
    if a is None:
        a = optimal_oprf_a(mean_pair_sq_sum(x, y), d)  # (...): from every row, not just ``rows``
    a = torch.as_tensor(a, dtype=x.dtype, device=x.device)
    a = a.reshape(*a.shape, 1, 1)  # (..., 1, 1) broadcasts over rows and features
    b = torch.sqrt(1.0 - 4.0 * a)
    offset = a * (w * w).sum(-1) + 0.25 * d * torch.log1p(-4.0 * a) - 0.5 * math.log(w.shape[0])
    xr = x[..., rows, :]
    log_x = torch.mul(project(x, w, rows), b).add_(offset).sub_(_half_sq_norm(xr))  # (..., r, m)
    # A is per query head, so under grouped heads each query head gets its own key features.
    log_y = project(y, w) * b + offset - _half_sq_norm(y)  # (..., s, m), broadcast to A's heads
    return log_x, log_y
