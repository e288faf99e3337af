"""Simplex random features (Reid et al., ICML 2023, "Simplex Random Features"): block geometry.

Within each block of d rows the directions are the d vertices of a regular simplex centred at
0, s_i = (e_i − 1/d)/√(1 − 1/d) with s_i·s_j = −1/(d − 1) for i ≠ j, rotated by one Haar
orthogonal matrix, and the lengths are independent chi(d) (``projections``, kind "simplex").
Each row is then marginally N(0, I_d), so unbiased maps stay unbiased; the negative coupling
lowers the positive-feature MSE below orthogonal rows' (the paper's Theorem 3.3: optimal among
couplings of this kind, for positive random features).
"""

from __future__ import annotations

import math

import torch


def simplex_vertices(head_dim: int) -> torch.Tensor:
    """The d unit vertices of a regular simplex in R^d, as rows. Shapes: (d, d), float64.

    d = 1 has no simplex (−1/(d − 1) is undefined): the one vertex is e_1.
    """
    if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim < 1:
        raise ValueError(f"head_dim must be a positive integer, got {head_dim!r}")
    eye = torch.eye(head_dim, dtype=torch.float64)
    if head_dim == 1:
        return eye
    centred = eye - 1.0 / head_dim  # rows e_i − 1/d: they sum to 0
    return centred / math.sqrt(1.0 - 1.0 / head_dim)  # |e_i − 1/d|² = 1 − 1/d
