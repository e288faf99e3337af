"""FAVOR# / SADERF: OPRF features on rebalanced inputs x' = Ψx, y' = Ψ⁻¹y (Ψ diagonal).

Likhosherstov et al. 2023, "Dense-Exponential Random Features" (arXiv 2302.00787), SADERF:
x'·y' = x·y for every diagonal Ψ > 0, so GERF/OPRF features of (x', y') stay unbiased for
exp(x·y) with Gaussian rows, whatever Ψ is (it is fitted from the data, not from W). Ψ is the
minimiser of the homogeneity heuristic ρ' = mean_ij |Ψx_i + Ψ⁻¹y_j|², coordinate by coordinate:
  Ψ_ll = (mean_j y_jl² / mean_i x_il²)^(1/4)   (the paper's sums when l = s),
then A* is fitted to ρ' (``exponential.optimal_oprf_a``), so ρ' ≤ ρ and the OPRF variance
bound can only fall. O((l + s)·d) to fit, per query head (under grouped heads each query head
gets its own Ψ, hence its own key features, as with OPRF's A). A coordinate that is zero in
every query (or key) would send Ψ_ll to ∞ (0): a tiny floor δ on both means keeps Ψ finite,
and any finite Ψ > 0 keeps the estimator unbiased, so the floor costs no bias.
Shapes: x (..., l, d), y (..., s, d), W (m, d) → ℓ(x) (..., r, m), ℓ(y) (..., s, m).
"""

from __future__ import annotations

import torch

from explorer.kernels.exponential import oprf_exponent

Pair = tuple[torch.Tensor, torch.Tensor]
FLOOR = 1e-8  # δ relative to the mean squared coordinate: Ψ_ll⁴ ≤ 2d/δ, finite


def saderf_scaling(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Ψ's diagonal, (mean_j y_jl² + δ)^(1/4) / (mean_i x_il² + δ)^(1/4). Shapes: → (..., 1, d)."""
    sq_x = (x * x).mean(dim=-2, keepdim=True)  # (..., 1, d): mean over the queries
    sq_y = (y * y).mean(dim=-2, keepdim=True)  # (..., 1, d): mean over the keys
    scale = (sq_x.mean(dim=-1, keepdim=True) + sq_y.mean(dim=-1, keepdim=True)) / 2  # (..., 1, 1)
    floor = FLOOR * scale + torch.finfo(x.dtype).tiny
    return ((sq_y + floor) / (sq_x + floor)).pow(0.25)  # broadcast of both heads' shapes


def rebalanced(x: torch.Tensor, y: torch.Tensor) -> Pair:
    """x' = Ψx, y' = Ψ⁻¹y: the same dot products, balanced norms. Shapes: (..., l|s, d)."""
    psi = saderf_scaling(x, y)  # (..., 1, d)
    return x * psi, y / psi


def saderf_exponent(x, y, w, *, rows=slice(None)) -> Pair:
    """SADERF: the OPRF exponents of (Ψx, Ψ⁻¹y) with A* fitted to them (FAVOR#)."""
    x_new, y_new = rebalanced(x, y)
    return oprf_exponent(x_new, y_new, w, rows=rows)
