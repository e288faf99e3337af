"""Random projections W (m, d) whose rows w_i drive the random features.

Sources: Performer (Choromanski et al. 2021) Sec. 2.4 and App. B.2 for orthogonal random features
(ORF): blocks of d exactly orthogonal rows, m > d stacks independent blocks. The QR step uses
Mezzadri's sign correction (columns of Q times sign(diag R)): plain Householder QR, used by the
reference implementations, always gives Q[0, 0] < 0, so its rows are not isotropic and the
kernel estimate is biased (see ``tests/core/test_projections.py``).

Every draw comes from a CPU ``torch.Generator`` in float64 and is moved afterwards, so one seed
gives the same matrix on every device.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch

ProjectionKind = Literal["iid", "orthogonal", "fixed_norm"]
PROJECTIONS: tuple[str, ...] = get_args(ProjectionKind)
PROJECTION_LABELS = {
    "iid": "iid Gaussian rows",
    "orthogonal": "block-orthogonal rows, chi(d) norms (ORF)",
    "fixed_norm": "block-orthogonal rows of norm √d (SMREG, regularized softmax)",
}


def _check_sizes(num_features: int, head_dim: int) -> None:
    if num_features < 1:
        raise ValueError(f"num_features must be at least 1, got {num_features}")
    if head_dim < 1:
        raise ValueError(f"head_dim must be at least 1, got {head_dim}")


def gaussian_projection(
    num_features: int, head_dim: int, *, generator: torch.Generator
) -> torch.Tensor:
    """W with iid N(0, 1) entries. Shapes: (m, d), float64 on the CPU."""
    _check_sizes(num_features, head_dim)
    return torch.randn(num_features, head_dim, generator=generator, dtype=torch.float64)


def orthonormal_blocks(
    num_features: int, head_dim: int, *, generator: torch.Generator, sign_correction: bool = True
) -> torch.Tensor:
    """Stacked Haar-random d×d orthogonal blocks, truncated to m rows of unit norm.

    ``sign_correction=False`` reproduces the biased plain-QR construction of the reference
    implementations; it exists to show the bias and is not offered as a projection.
    Shapes: (m, d), float64 on the CPU.
    """
    _check_sizes(num_features, head_dim)
    num_blocks = math.ceil(num_features / head_dim)
    gaussian = torch.randn(num_blocks, head_dim, head_dim, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)  # (n, d, d) each
    if sign_correction:
        # Mezzadri (2007): Q·diag(sign(diag R)) is Haar distributed; plain Q is not.
        signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))  # (n, d)
        signs[signs == 0] = 1.0
        q = q * signs.unsqueeze(-2)  # scale columns
    rows = q.transpose(-2, -1)  # rows of each block are orthonormal: (n, d, d)
    return rows.reshape(num_blocks * head_dim, head_dim)[:num_features]  # (m, d)


def orthogonal_projection(
    num_features: int,
    head_dim: int,
    *,
    generator: torch.Generator,
    norms: Literal["chi", "sqrt_d"] = "chi",
    sign_correction: bool = True,
) -> torch.Tensor:
    """Block-orthogonal W: orthonormal directions times chi(d) norms (Gaussian marginals) or √d.

    Shapes: (m, d), float64 on the CPU.
    """
    directions = orthonormal_blocks(
        num_features, head_dim, generator=generator, sign_correction=sign_correction
    )
    if norms == "chi":
        # Norms of independent Gaussian vectors: each row then has an N(0, I_d) marginal.
        lengths = torch.randn(
            num_features, head_dim, generator=generator, dtype=torch.float64
        ).norm(dim=-1)
    elif norms == "sqrt_d":
        lengths = torch.full((num_features,), math.sqrt(head_dim), dtype=torch.float64)
    else:
        raise ValueError(f"unknown norms {norms!r}: use 'chi' or 'sqrt_d'")
    return directions * lengths.unsqueeze(-1)  # (m, d)


def draw_projection(
    kind: str, num_features: int, head_dim: int, *, generator: torch.Generator
) -> torch.Tensor:
    """Draw W of the named kind. Shapes: (m, d), float64 on the CPU."""
    if kind == "iid":
        return gaussian_projection(num_features, head_dim, generator=generator)
    if kind == "orthogonal":
        return orthogonal_projection(num_features, head_dim, generator=generator, norms="chi")
    if kind == "fixed_norm":
        return orthogonal_projection(num_features, head_dim, generator=generator, norms="sqrt_d")
    raise ValueError(f"unknown projection {kind!r}: use one of {', '.join(PROJECTIONS)}")


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator for one seed: the only source of randomness in the core."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return torch.Generator(device="cpu").manual_seed(seed)
