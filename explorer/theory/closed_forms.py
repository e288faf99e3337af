"""Closed forms that predict the error, to draw beside every measurement.

Kernel estimators of SM(x, y) = exp(x·y) with m iid random vectors (Performer, Choromanski et al.
2021, Lemma 2; FAVOR++, Likhosherstov et al. 2022), as relative MSE = MSE/SM², with
ρ₊ = |x+y|² and ρ₋ = |x−y|²:
  trig        (2/m)·sinh²(ρ₋/2)
  positive    (e^{ρ₊} − 1)/m
  hyperbolic  (2/m)·sinh²(ρ₊/2)
  oprf        (((1−4A)²/(1−8A))^{d/2}·e^{ρ₊/(1−8A)} − 1)/m   (A = 0: positive)
  saderf      the oprf form at ρ₊' = |Ψx + Ψ⁻¹y|² of the rebalanced pair (FAVOR#, Likhosherstov
              et al. 2023; ``saderf_relative_mse`` fits Ψ from x, y)
  hybrid      (λ(e^{ρ₊} − 1) + (1 − λ)·2sinh²(ρ₋/2))/m_b, λ = θ/π (``hybrid_relative_mse``)
Orthogonal rows (m ≤ d) lower the positive MSE by at least
(1 − 1/m)·2/(d+2)·(SM − e^{−(|x|²+|y|²)/2})² (Performer Theorem 2, arXiv v4). The
trig/positive ratio at |x| = |y| = l and angle φ is Performer Fig. 2's r(φ, l). The delta
method gives the output MSE of positive features (the project's theory notes, §2.9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from explorer.attention.exact import exact_weights
from explorer.attention.masks import hidden_keys
from explorer.kernels.exponential import mean_pair_sq_sum
from explorer.kernels.saderf import rebalanced

UnbiasedMap = Literal["trig", "positive", "hyperbolic", "oprf", "saderf"]
VALID_DENOMINATOR_VARIANCE = 0.1  # delta method trusted while Var(D̂)/D² stays well below 1


def relative_mse(
    kind: str,
    *,
    sq_sum,
    sq_diff=None,
    num_features: int,
    head_dim: int | None = None,
    a=None,
) -> np.ndarray:
    """MSE/SM² of an unbiased estimator with m iid vectors (arrays broadcast)."""
    if num_features < 1:
        raise ValueError(f"num_features must be at least 1, got {num_features}")
    rho_plus = np.asarray(sq_sum, dtype=np.float64)
    with np.errstate(over="ignore"):
        if kind == "positive":
            return np.expm1(rho_plus) / num_features
        if kind == "hyperbolic":
            return 2.0 * np.sinh(rho_plus / 2.0) ** 2 / num_features
        if kind == "trig":
            if sq_diff is None:
                raise ValueError("the trig MSE needs sq_diff = |x − y|²")
            return 2.0 * np.sinh(np.asarray(sq_diff, dtype=np.float64) / 2.0) ** 2 / num_features
        if kind in ("oprf", "saderf"):  # saderf: sq_sum is the rebalanced |x' + y'|²
            if head_dim is None:
                raise ValueError(f"the {kind} MSE needs head_dim")
            a = optimal_a(rho_plus, head_dim) if a is None else np.asarray(a, dtype=np.float64)
            if np.any(a >= 0.125):
                raise ValueError("OPRF needs A < 1/8")
            log_factor = 0.5 * head_dim * (2 * np.log1p(-4 * a) - np.log1p(-8 * a))
            return np.expm1(log_factor + rho_plus / (1 - 8 * a)) / num_features
    raise ValueError(
        f"no closed-form MSE for {kind!r}: use trig, positive, hyperbolic, oprf or saderf"
    )


def saderf_relative_mse(x: torch.Tensor, y: torch.Tensor, *, num_features: int) -> np.ndarray:
    """FAVOR#'s MSE/SM² for each pair (x_i, y_j): OPRF's at x' = Ψx, y' = Ψ⁻¹y, A* from ρ'.

    Ψ and A* are fitted from all rows, as the map does (``kernels.saderf``), so for one pair
    pass x (1, d) and y (1, d). Shapes: x (..., l, d), y (..., s, d) → (..., l, s).
    """
    x_new, y_new = rebalanced(x.double(), y.double())
    a = optimal_a(mean_pair_sq_sum(x_new, y_new).numpy(), x.shape[-1])[..., None, None]
    pair = x_new.unsqueeze(-2) + y_new.unsqueeze(-3)  # (..., l, s, d)
    sq_sum = (pair * pair).sum(-1).numpy()  # (..., l, s)
    return relative_mse(
        "saderf", sq_sum=sq_sum, num_features=num_features, head_dim=x.shape[-1], a=a
    )


def hybrid_relative_mse(*, sq_sum, sq_diff, angle, base_rows: int) -> np.ndarray:
    """Angular hybrid's MSE/SM² with iid rows: (λ(e^{ρ₊} − 1) + (1 − λ)·2sinh²(ρ₋/2))/m_b.

    λ = θ/π; λ̂_r ∈ {0, 1} picks one estimator per base row, so the per-row variance is the
    λ-mixture of the positive and trig ones (``kernels.hybrid``); m_b = ``hybrid.base_rows``.
    """
    lam = np.asarray(angle, dtype=np.float64) / np.pi
    pos = relative_mse("positive", sq_sum=sq_sum, num_features=base_rows)
    trig = relative_mse("trig", sq_sum=sq_sum, sq_diff=sq_diff, num_features=base_rows)
    return lam * pos + (1.0 - lam) * trig


def optimal_a(sq_sum, head_dim: int) -> np.ndarray:
    """A* = (1 − 2φ − √((2φ+1)² + 8φ))/16 with φ = ρ/d (FAVOR++); A* ≤ 0."""
    phi = np.asarray(sq_sum, dtype=np.float64) / head_dim
    return (1.0 - 2.0 * phi - np.sqrt((2.0 * phi + 1.0) ** 2 + 8.0 * phi)) / 16.0


def orthogonal_gap(*, x_sq, y_sq, dot, num_features: int, head_dim: int) -> np.ndarray:
    """Theorem 2's guaranteed MSE reduction of orthogonal positive features (m ≤ d)."""
    if num_features > head_dim:
        raise ValueError(f"Theorem 2 needs m ≤ d (got m={num_features}, d={head_dim})")
    x_sq, y_sq, dot = (np.asarray(t, dtype=np.float64) for t in (x_sq, y_sq, dot))
    m, d = num_features, head_dim
    return (1 - 1 / m) * 2 / (d + 2) * (np.exp(dot) - np.exp(-(x_sq + y_sq) / 2)) ** 2


def trig_positive_ratio(angle, length) -> np.ndarray:
    """r(φ, l) = MSE_trig/MSE_pos for |x| = |y| = l at angle φ (Performer Fig. 2); m cancels.

    At l = 0 both MSEs vanish; the ratio's limit is l²(1 − cos φ)²/(1 + cos φ) → 0, except at
    φ = ±π (x = −y), where MSE_pos is 0 for every l and the ratio is +inf.
    """
    angle, length = np.broadcast_arrays(
        np.asarray(angle, np.float64), np.asarray(length, np.float64)
    )
    l2 = length**2
    cos = np.cos(angle)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        num = (-np.expm1(-2 * l2 * (1 - cos))) ** 2
        den = 2 * np.exp(4 * l2 * cos) * (-np.expm1(-2 * l2 * (1 + cos)))
        ratio = num / den
    opposite = np.isclose(cos, -1.0, rtol=0.0, atol=1e-15)
    limit = np.where(opposite, np.inf, 0.0)  # l → 0
    ratio = np.where(l2 == 0, limit, ratio)
    return np.where(opposite & (l2 > 0), np.inf, ratio)


def regularized_kernel(
    kind: str, *, x_sq, y_sq, sq_sum=None, sq_diff=None, head_dim: int, a=None
) -> np.ndarray:
    """What ``kind`` features estimate with rows of norm √d (``fixed_norm``), not exp(x·y).

    With w uniform on √d·S^{d−1}, E[e^{w·z}] = ₀F₁(; d/2; d|z|²/4) and E[cos(w·z)] =
    ₀F₁(; d/2; −d|z|²/4), so (``kernels.estimates``):
      positive, hyperbolic  e^{−(|x|²+|y|²)/2}·₀F₁(; d/2; d|x+y|²/4)   (SMREG, ≤ exp(x·y))
      trig                  e^{(|x|²+|y|²)/2}·₀F₁(; d/2; −d|x−y|²/4)
      oprf                  (1−4A)^{d/2} e^{2Ad − (|x|²+|y|²)/2}·₀F₁(; d/2; d(1−4A)|x+y|²/4)
    """
    from scipy.special import hyp0f1

    d = head_dim
    norms = np.asarray(x_sq, np.float64) + np.asarray(y_sq, np.float64)
    if kind in ("positive", "hyperbolic"):
        return np.exp(-norms / 2) * hyp0f1(d / 2, d * np.asarray(sq_sum, np.float64) / 4)
    if kind == "trig":
        return np.exp(norms / 2) * hyp0f1(d / 2, -d * np.asarray(sq_diff, np.float64) / 4)
    if kind == "oprf":
        a = optimal_a(sq_sum, d) if a is None else np.asarray(a, np.float64)
        b_sq = 1 - 4 * a
        log_scale = 0.5 * d * np.log(b_sq) + 2 * a * d - norms / 2
        return np.exp(log_scale) * hyp0f1(d / 2, d * b_sq * np.asarray(sq_sum, np.float64) / 4)
    raise ValueError(f"no regularized kernel for {kind!r}: use positive, hyperbolic, trig, oprf")


def _scaled(log_scale: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """e^{log_scale}·value for value ≥ 0, overflowing to +inf (0 where value is 0)."""
    out = torch.exp(log_scale + torch.log(value.clamp(min=1e-300)))
    return torch.where(value > 0, out, torch.zeros_like(out))


@dataclass(frozen=True, kw_only=True)
class DeltaMethodPrediction:
    """Predicted output error of positive features with m iid vectors (first order in 1/m)."""

    row_mse: np.ndarray  # (n, r): E|ô_i − o_i|² for the predicted rows
    denominator_variance: np.ndarray  # (n, r): Var(D̂_i)/D_i²
    predicted_relative_error: float  # √(Σ_i MSE_i / Σ_i |o_i|²) over the predicted rows
    valid: bool  # every row has Var(D̂)/D² ≤ VALID_DENOMINATOR_VARIANCE


def delta_method_output_mse(
    x: torch.Tensor,
    y: torch.Tensor,
    v: torch.Tensor,
    *,
    num_features: int,
    causal: bool = False,
    rows: slice | None = None,
) -> DeltaMethodPrediction:
    """MSE(ô_i) ≈ (1/m)·e^{|x_i|²} Σ_{j,l} K_ij² K_il² e^{y_j·y_l} (v_j−o_i)·(v_l−o_i) / D_i².

    Written with P = K/D as (1/m)·e^{|x_i|² + 2 log D_i} Σ_{jl} P_ij² P_il² e^{y_j·y_l}(...),
    shifted by max y_j·y_l so nothing overflows. O(r·s²) per head: pass ``rows`` for long inputs.
    Shapes: x (..., l, d), y (..., s, d) pre-scaled, v (..., s, e) → arrays (n, r).
    """
    rows = rows or slice(0, x.shape[-2])
    x, y, v = x.double(), y.double(), v.double()
    p = exact_weights(x, y, rows=rows, causal=causal, scale=1.0)  # (..., r, s)
    logits = x[..., rows, :] @ y.transpose(-2, -1)  # (..., r, s)
    hidden = hidden_keys(torch.arange(rows.start, rows.stop), y.shape[-2], causal=causal)
    if hidden is not None:
        logits = logits.masked_fill(hidden, float("-inf"))
    log_d = torch.logsumexp(logits, dim=-1)  # (..., r)
    gram = y @ y.transpose(-2, -1)  # (..., s, s)
    shift = gram.amax(dim=(-2, -1), keepdim=True)
    g = torch.exp(gram - shift)  # (..., s, s)
    u = p * p  # (..., r, s)
    o = p @ v  # (..., r, e)
    ug = u @ g  # (..., r, s)
    h = g * (v @ v.transpose(-2, -1))  # (..., s, s)
    term_vv = ((u @ h) * u).sum(-1)  # Σ_jl u_j u_l G_jl v_j·v_l
    term_ov = 2 * (((ug * u) @ v) * o).sum(-1)  # 2 o_i·Σ_j (uG)_ij u_ij v_j
    term_oo = (o * o).sum(-1) * (ug * u).sum(-1)
    log_scale = (x[..., rows, :] ** 2).sum(-1) + 2 * log_d + shift.squeeze(-1)  # (..., r)
    # The sums are quadratic forms of the PSD kernel matrix G: ≥ 0 up to rounding. Their logs
    # are added to log_scale, so a factor e^{log_scale} past the float range gives +inf
    # (the regime where the delta method is invalid), never inf·0 = NaN.
    quad = (term_vv - term_ov + term_oo).clamp(min=0.0)
    row_mse = _scaled(log_scale, quad) / num_features
    denominator = _scaled(log_scale, (ug * u).sum(-1)) / num_features - 1.0 / num_features
    total = float(row_mse.sum()) / max(float((o * o).sum()), 1e-300)
    n = row_mse[..., 0].numel()
    return DeltaMethodPrediction(
        row_mse=row_mse.reshape(n, -1).numpy(),
        denominator_variance=denominator.reshape(n, -1).numpy(),
        predicted_relative_error=float(np.sqrt(max(total, 0.0))),
        valid=bool((denominator <= VALID_DENOMINATOR_VARIANCE).all()),
    )
