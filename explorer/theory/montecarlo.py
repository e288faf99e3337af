"""Seeded Monte Carlo of the kernel estimators, to check the closed forms live.

E[φ(x)·φ(y)] = SM(x, y) = exp(x·y) for the unbiased maps (Performer, Choromanski et al. 2021,
eq. 5 and Lemma 1; FAVOR++, Likhosherstov et al. 2022). R independent draws of m random vectors
each give R estimates; their mean of ((ŜM − SM)/SM)² estimates the relative MSE of Lemma 2 (and
the FAVOR++ variance), with its standard error. The draws run through the real feature maps of
``explorer.kernels.feature_maps`` (unstabilised), so they test the code, not a re-derivation.
Maps whose features are not laid out per row of W (hybrid) are drawn one W at a time.
Heavy tails: the positive estimator's relative error is log-normal-like once |x+y|² ≳ 3, and
then a finite sample usually under-estimates the MSE (shown, not hidden, on the Theory page).
The curves beyond Gaussian rows and plain OPRF, and the registry of tables the Theory page asks
for, are in ``montecarlo_curves``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.projections import get_projection
from explorer.streams import stream
from explorer.theory.closed_forms import orthogonal_gap, relative_mse, trig_positive_ratio

ESTIMATORS = ("trig", "positive", "hyperbolic", "oprf")  # the maps with a closed-form MSE


def pair_from_norms(sum_norm: float, diff_norm: float, head_dim: int) -> tuple[torch.Tensor, ...]:
    """x, y with |x + y| = sum_norm and |x − y| = diff_norm: x = (u+v)/2, y = (u−v)/2, u ⊥ v."""
    if head_dim < 2:
        raise ValueError(f"pairs need head_dim ≥ 2, got {head_dim}")
    if sum_norm < 0 or diff_norm < 0:
        raise ValueError("|x + y| and |x − y| must be ≥ 0")
    u = torch.zeros(head_dim, dtype=torch.float64)
    w = torch.zeros(head_dim, dtype=torch.float64)
    u[0], w[1] = sum_norm, diff_norm
    return (u + w) / 2, (u - w) / 2


def pair_from_angle(length: float, angle: float, head_dim: int) -> tuple[torch.Tensor, ...]:
    """x, y with |x| = |y| = length at the given angle (Performer Fig. 2's geometry)."""
    x = torch.zeros(head_dim, dtype=torch.float64)
    y = torch.zeros(head_dim, dtype=torch.float64)
    x[0] = length
    y[0], y[1] = length * math.cos(angle), length * math.sin(angle)
    return x, y


def _projections(kind: str, num_features: int, head_dim: int, draws: int, seed: int):
    """R independent W of m rows, draw i from the ``monte_carlo`` stream's child i. (R·m, d)."""
    base = stream("monte_carlo", seed)
    streams = [base.child(i) for i in range(draws)]
    w = get_projection(kind).draw_many(num_features, head_dim, streams=streams)  # (R, m, d)
    return w.reshape(-1, head_dim)


def kernel_estimates(
    name: str,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_features: int,
    draws: int,
    projection: str = "iid",
    seed: int = 0,
) -> np.ndarray:
    """R estimates φ(x)·φ(y), each from its own W of m rows. Shapes: x, y (d,) → (R,)."""
    if num_features < 1 or draws < 2:
        raise ValueError(f"need m ≥ 1 and at least 2 draws, got m={num_features}, R={draws}")
    fmap = get_feature_map(name)
    if fmap.kernel != "unbiased":
        raise ValueError(f"{name!r} is a substitute kernel, not an estimator of exp(x·y)")
    w = _projections(projection, num_features, x.shape[-1], draws, seed)  # (R·m, d)
    if fmap.width is not None:  # features not laid out per row of W: one call per draw
        x1, y1 = x[None].double(), y[None].double()
        blocks = w.reshape(draws, num_features, -1)  # (R, m, d)
        pairs = (fmap(x1, y1, block, stabilize=False) for block in blocks)
        return np.array([float((f.query * f.key).sum()) for f in pairs])
    features = fmap(x[None].double(), y[None].double(), w, stabilize=False)  # (1, k·R·m) each
    products = (features.query * features.key).reshape(
        fmap.features_per_vector, draws, num_features
    )
    # The map normalises by all R·m vectors; one draw's estimate normalises by its own m.
    return (products.sum(dim=(0, 2)) * draws).numpy()


def relative_mse_mc(
    name: str, x: torch.Tensor, y: torch.Tensor, **draw_settings
) -> tuple[float, float]:
    """Mean of ((ŜM − SM)/SM)² over the draws, and its standard error."""
    sm = math.exp(float(x @ y))
    rel_sq = ((kernel_estimates(name, x, y, **draw_settings) - sm) / sm) ** 2
    return float(rel_sq.mean()), float(rel_sq.std(ddof=1) / math.sqrt(rel_sq.size))


def relative_mse_curves(
    *,
    vary: str,
    values,
    fixed: float,
    head_dim: int,
    num_features: int,
    maps=ESTIMATORS,
    draws: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Lemma 2 / FAVOR++ relative MSE and its Monte Carlo along |x+y| (vary="sum") or |x−y|.

    Columns: feature_map, sum_norm, diff_norm, theory, mc, mc_se (one row per map and value).
    """
    if vary not in ("sum", "diff"):
        raise ValueError(f"vary must be 'sum' (|x + y|) or 'diff' (|x − y|), got {vary!r}")
    rows = []
    for i, value in enumerate(values):
        s, t = (float(value), fixed) if vary == "sum" else (fixed, float(value))
        x, y = pair_from_norms(s, t, head_dim)
        for name in maps:
            theory = relative_mse(
                name, sq_sum=s * s, sq_diff=t * t, num_features=num_features, head_dim=head_dim
            )
            mc, se = relative_mse_mc(
                name, x, y, num_features=num_features, draws=draws, seed=seed + i
            )
            rows.append((name, s, t, float(theory), mc, se))
    return pd.DataFrame(
        rows, columns=["feature_map", "sum_norm", "diff_norm", "theory", "mc", "mc_se"]
    )


def ratio_slice(
    angles, *, length: float, head_dim: int, num_features: int, draws: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """r(φ, l) = MSE_trig/MSE_pos on one length (Fig. 2's right panel) with its Monte Carlo.

    Columns: angle, theory, mc_trig, mc_positive, mc (the ratio of the two Monte Carlo MSEs).
    """
    rows = []
    for i, angle in enumerate(angles):
        x, y = pair_from_angle(length, float(angle), head_dim)
        settings = {"num_features": num_features, "draws": draws, "seed": seed + i}
        trig, _ = relative_mse_mc("trig", x, y, **settings)
        pos, _ = relative_mse_mc("positive", x, y, **settings)
        ratio = trig / pos if pos > 0 else math.inf
        rows.append((float(angle), float(trig_positive_ratio(angle, length)), trig, pos, ratio))
    return pd.DataFrame(rows, columns=["angle", "theory", "mc_trig", "mc_positive", "mc"])


def orthogonal_gain(
    ms, *, length: float, angle: float, head_dim: int, draws: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Positive features, iid vs orthogonal rows (Theorem 2, m ≤ d), as relative MSEs.

    Columns: num_features, iid_theory, orthogonal_bound (iid − gap), iid_mc, iid_se,
    orthogonal_mc, orthogonal_se. Both projections use chi(d) row norms (Gaussian marginals).
    """
    x, y = pair_from_angle(length, angle, head_dim)
    sm = math.exp(float(x @ y))
    rows = []
    for i, m in enumerate(ms):
        m = int(m)
        iid = float(relative_mse("positive", sq_sum=float((x + y) @ (x + y)), num_features=m))
        gap = float(
            orthogonal_gap(
                x_sq=float(x @ x),
                y_sq=float(y @ y),
                dot=float(x @ y),
                num_features=m,
                head_dim=head_dim,
            )
        )
        settings = {"num_features": m, "draws": draws, "seed": seed + i}
        iid_mc, iid_se = relative_mse_mc("positive", x, y, projection="iid", **settings)
        ort_mc, ort_se = relative_mse_mc("positive", x, y, projection="orthogonal", **settings)
        rows.append((m, iid, iid - gap / sm**2, iid_mc, iid_se, ort_mc, ort_se))
    columns = [
        "num_features",
        "iid_theory",
        "orthogonal_bound",
        "iid_mc",
        "iid_se",
        "orthogonal_mc",
        "orthogonal_se",
    ]
    return pd.DataFrame(rows, columns=columns)
