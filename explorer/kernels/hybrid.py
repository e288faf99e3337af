"""Hybrid random features, angular variant (Choromanski et al., ICLR 2022, "Hybrid Random
Features"): K̂ = λ̂·K̂_pos + (1 − λ̂)·K̂_trig with λ̂ estimating λ(θ) = θ/π, θ = ∠(x, y).

The rows of W are split: ``base_rows`` m_b rows w_r drive positive and trig features, the other
m_a = m − m_b rows u_k only give signs. Base row r is paired with u = u_{r mod m_a}, and
  λ̂_r = (1 − sgn(u·x)·sgn(u·y))/2 ∈ {0, 1},   E[λ̂_r] = θ/π   (Goemans–Williamson),
  K̂ = (1/m_b)·Σ_r [λ̂_r·P_r + (1 − λ̂_r)·T_r],
with P_r = e^{w_r·x − |x|²/2}·e^{w_r·y − |y|²/2} and T_r = e^{(|x|²+|y|²)/2}·cos(w_r·(x − y)).
As features: query [p, s·p, h·sin, h·cos, s·h·sin, s·h·cos]/√(2m_b) per base row, key the
same with −s·p (the minus makes (1 − s s')/2 from p p'(1 − s s')): 6·m_b features, about 3m.
Unbiased for exp(x·y) exactly when each u is independent of its w: always with iid rows, and
with block-coupled rows (orthogonal, simplex) when m > d, because then the base rows are whole
blocks (m_b = d·⌈⌈m/d⌉/2⌉) and every u lies in a later block. With m ≤ d (one block) u ⊥ w
couples them and the product λ̂_r·P_r is biased (by O(1/d)); nothing is clamped. Since λ̂_r is
0 or 1, each base row uses one estimator: Var/SM² = (λ(e^{ρ₊} − 1) + (1 − λ)·2sinh²(ρ₋/2))/m_b
with iid rows (``theory.closed_forms.hybrid_relative_mse``), between the two estimators'.
Stabilised like the exponential maps, in log-magnitude: keys subtract the per-feature maximum,
queries add it back and subtract their row maximum, signs kept (cancels exactly).
Shapes: x (..., l, d), y (..., s, d), W (m, d) → (..., l, 6·m_b), (..., s, 6·m_b).
"""

from __future__ import annotations

import math

import torch

Pair = tuple[torch.Tensor, torch.Tensor]


def base_rows(num_features: int, head_dim: int) -> int:
    """m_b: whole blocks (half of them, rounded up) when m > d, else ⌈m/2⌉; needs m ≥ 2."""
    if num_features < 2:
        raise ValueError(f"hybrid features need m ≥ 2 (base and angular rows), got {num_features}")
    blocks = -(-num_features // head_dim)  # ⌈m/d⌉
    if blocks == 1:
        return -(-num_features // 2)
    return head_dim * -(-blocks // 2)


def hybrid_width(num_features: int, head_dim: int) -> int:
    """6·m_b features: 2 positive and 4 trig per base row."""
    return 6 * base_rows(num_features, head_dim)


def _log_parts(t: torch.Tensor, w: torch.Tensor, u: torch.Tensor, key: bool) -> Pair:
    """Log-magnitudes and signs of one side's features. Shapes: (..., n, 6·m_b) each."""
    half = 0.5 * (t * t).sum(-1, keepdim=True)  # (..., n, 1): |t|²/2
    wt = t @ w.T  # (..., n, m_b)
    s = torch.sign(t @ u.T)  # (..., n, m_b): sgn(u_{r mod m_a}·t)
    s = torch.where(s == 0, torch.ones_like(s), s)  # a measure-zero tie: count it as +
    pos = wt - half  # log p
    sin, cos = torch.sin(wt), torch.cos(wt)
    trig_log = torch.cat([sin.abs().log(), cos.abs().log()], dim=-1) + half  # (..., n, 2m_b)
    trig_sign = torch.cat([torch.sign(sin), torch.sign(cos)], dim=-1)
    s2 = torch.cat([s, s], dim=-1)  # (..., n, 2m_b)
    log = torch.cat([pos, pos, trig_log, trig_log], dim=-1)  # (..., n, 6m_b)
    sign = torch.cat(
        [torch.ones_like(s), -s if key else s, trig_sign, s2 * trig_sign], dim=-1
    )  # (..., n, 6m_b)
    return log, sign


def hybrid_features(x, y, w, *, stabilize: bool = True) -> Pair:
    """λ̂-weighted positive and trig features of x and y (angular hybrid, HRF)."""
    m, d = w.shape
    m_b = base_rows(m, d)
    angular = w[m_b:]  # (m_a, d)
    u = angular[torch.arange(m_b, device=w.device) % angular.shape[0]]  # (m_b, d)
    log_x, sign_x = _log_parts(x, w[:m_b], u, key=False)
    log_y, sign_y = _log_parts(y, w[:m_b], u, key=True)
    norm = -0.5 * math.log(2 * m_b)
    if stabilize:
        key_max = log_y.amax(dim=-2, keepdim=True)  # (..., 1, 6m_b): per feature
        key_max = torch.where(torch.isfinite(key_max), key_max, torch.zeros_like(key_max))
        log_y = log_y - key_max
        log_x = log_x + key_max
        row_max = log_x.amax(dim=-1, keepdim=True)  # (..., l, 1): per query, cancels
        log_x = log_x - torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    return sign_x * torch.exp(log_x + norm), sign_y * torch.exp(log_y + norm)
