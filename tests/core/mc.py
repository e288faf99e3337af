"""Seeded Monte Carlo of kernel estimates: R independent draws of m random vectors each."""

from __future__ import annotations

import math

import torch

from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.projections import draw_projection, seeded_generator


def pair(r: float, angle: float, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y with |x| = |y| = r at the given angle, in d dims (float64)."""
    x = torch.zeros(d, dtype=torch.float64)
    y = torch.zeros(d, dtype=torch.float64)
    x[0] = r
    y[0], y[1] = r * math.cos(angle), r * math.sin(angle)
    return x, y


def kernel_draws(
    name: str,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    m: int,
    draws: int,
    projection: str = "iid",
    seed: int = 0,
) -> torch.Tensor:
    """Per-draw estimates φ(x)·φ(y) with m vectors, for ``draws`` independent W. Shape (R,)."""
    fmap = get_feature_map(name)
    d = x.shape[-1]
    w = draw_projection(projection, draws * m, d, generator=seeded_generator(seed))  # (R·m, d)
    if projection != "iid" and m % d:
        raise ValueError("orthogonal draws need m to be a multiple of d (whole blocks)")
    phi_x, phi_y = fmap(x[None], y[None], w, stabilize=False)  # (1, k·R·m) each
    k = fmap.features_per_vector
    products = (phi_x * phi_y).reshape(k, draws, m)  # (k, R, m): [sin|cos] or [+|−] halves
    # The map normalised by all R·m vectors; one draw's estimate normalises by its own m.
    return products.sum(dim=(0, 2)) * draws
