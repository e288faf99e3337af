"""Seeded Monte Carlo beyond Gaussian rows, and the registry of the Theory page's tables.

Rows of norm √d (``fixed_norm``) estimate the regularized kernel SMREG, not exp(x·y)
(Performer Sec. 2.3, Theorem 1); FAVOR# (SADERF, Likhosherstov et al. 2023) rebalances |x| and
|y| before OPRF. Both through the real feature maps, as in ``montecarlo``.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import pandas as pd

from explorer.theory.closed_forms import regularized_kernel, relative_mse, saderf_relative_mse
from explorer.theory.montecarlo import (
    kernel_estimates,
    orthogonal_gain,
    pair_from_angle,
    pair_from_norms,
    ratio_slice,
    relative_mse_curves,
    relative_mse_mc,
)


def regularized_ratio_curve(
    sum_norms, *, head_dim: int, num_features: int, draws: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """What positive features estimate on rows of norm √d, as a fraction of exp(x·y).

    SMREG/SM = e^{−|x+y|²/2}·₀F₁(; d/2; d|x+y|²/4) depends on |x + y| alone (Performer Sec. 2.3,
    Theorem 1: ≤ 1). Monte Carlo means of φ(x)·φ(y)/exp(x·y) on ``fixed_norm`` rows (towards
    the closed form) and on ``orthogonal`` rows with chi(d) norms (towards 1, unbiased).
    Columns: sum_norm, theory, mc, mc_se, gaussian_mc, gaussian_se.
    """
    rows = []
    for i, value in enumerate(sum_norms):
        x, y = pair_from_norms(float(value), 0.5, head_dim)
        sm = math.exp(float(x @ y))
        settings = {"num_features": num_features, "draws": draws, "seed": seed + i}
        fixed = kernel_estimates("positive", x, y, projection="fixed_norm", **settings) / sm
        gaussian = kernel_estimates("positive", x, y, projection="orthogonal", **settings) / sm
        theory = (
            regularized_kernel(
                "positive",
                x_sq=float(x @ x),
                y_sq=float(y @ y),
                sq_sum=float(value) ** 2,
                head_dim=head_dim,
            )
            / sm
        )
        root = math.sqrt(draws)
        rows.append(
            (
                float(value),
                float(theory),
                float(fixed.mean()),
                float(fixed.std(ddof=1) / root),
                float(gaussian.mean()),
                float(gaussian.std(ddof=1) / root),
            )
        )
    columns = ["sum_norm", "theory", "mc", "mc_se", "gaussian_mc", "gaussian_se"]
    return pd.DataFrame(rows, columns=columns)


def saderf_imbalance_curve(
    ratios,
    *,
    length: float,
    angle: float,
    head_dim: int,
    num_features: int,
    draws: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """OPRF vs FAVOR# (saderf) as |y|/|x| = t grows at a fixed x·y (x/√t, y·√t).

    OPRF's relative MSE grows with |x + y|²; FAVOR#'s Ψ undoes the imbalance (for one pair,
    |Ψx|_l = |Ψ⁻¹y|_l = √|x_l y_l|), so its line stays flat (``closed_forms``).
    Columns: feature_map, ratio, theory, mc, mc_se.
    """
    rows = []
    for i, ratio in enumerate(ratios):
        x, y = pair_from_angle(length, angle, head_dim)
        root = math.sqrt(float(ratio))
        x, y = x / root, y * root
        settings = {"num_features": num_features, "draws": draws, "seed": seed + i}
        oprf = relative_mse(
            "oprf", sq_sum=float((x + y) @ (x + y)), num_features=num_features, head_dim=head_dim
        )
        sharp = saderf_relative_mse(x[None], y[None], num_features=num_features)[0, 0]
        for name, theory in (("oprf", oprf), ("saderf", sharp)):
            mc, se = relative_mse_mc(name, x, y, **settings)
            rows.append((name, float(ratio), float(theory), mc, se))
    return pd.DataFrame(rows, columns=["feature_map", "ratio", "theory", "mc", "mc_se"])


MONTE_CARLO = MappingProxyType(  # the tables the Theory page asks for, by name
    {
        "relative_mse_curves": relative_mse_curves,
        "ratio_slice": ratio_slice,
        "orthogonal_gain": orthogonal_gain,
        "regularized_ratio_curve": regularized_ratio_curve,
        "saderf_imbalance_curve": saderf_imbalance_curve,
    }
)
