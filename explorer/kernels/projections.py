"""Random projections W (m, d) whose rows w_i drive the random features (one read-only registry).

Sources: Performer (Choromanski et al. 2021) Sec. 2.4 and App. B.2 for orthogonal random features
(ORF): blocks of d exactly orthogonal rows, m > d stacks independent blocks. The QR step uses
Mezzadri's sign correction (columns of Q times sign(diag R)): plain Householder QR, used by the
reference implementations, always gives Q[0, 0] < 0, so its rows are not isotropic and the
kernel estimate is biased (see ``tests/core/kernels/test_projections.py``). Simplex random
features (Reid et al. 2023, ``simplex``) rotate the d vertices of a regular simplex instead
(pairwise dot −1/(d − 1)), with the same chi(d) norms.

Nested draws: block b (rows b·d … b·d + d − 1, directions and norms) comes from its own
sub-stream ``stream.child(b)``, so the first m rows of a draw of M > m rows are exactly the draw
of m rows. A grid over m can share one draw and still equal ``compare`` cell by cell.
Every draw is float64 on the CPU and is moved afterwards (same matrix on every device).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import torch

from explorer.kernels.simplex import simplex_vertices
from explorer.streams import Stream

ProjectionKind = Literal["iid", "orthogonal", "fixed_norm", "simplex"]
NormKind = Literal["gaussian", "chi", "sqrt_d"]


def _check_sizes(num_features: int, head_dim: int) -> None:
    if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
        raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
    if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim < 1:
        raise ValueError(f"head_dim must be a positive integer, got {head_dim!r}")


def _normals(blocks: Sequence[Stream], head_dim: int) -> torch.Tensor:
    """One d×d standard normal matrix from the start of each block's stream. (n, d, d)."""
    return torch.stack([block.normal(head_dim, head_dim) for block in blocks])


def orthonormal_blocks(
    blocks: Sequence[Stream], head_dim: int, *, sign_correction: bool = True
) -> torch.Tensor:
    """Rows of Haar-random d×d orthogonal matrices, one per block stream (one batched QR).

    ``sign_correction=False`` reproduces the biased plain-QR construction of the reference
    implementations (google-research, performer-pytorch); it exists to show that bias.
    Shapes: (n, d, d), float64 on the CPU.
    """
    q, r = torch.linalg.qr(_normals(blocks, head_dim))  # (n, d, d) each
    if sign_correction:
        # Mezzadri (2007): Q·diag(sign(diag R)) is Haar distributed; plain Q is not.
        signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))  # (n, d)
        signs[signs == 0] = 1.0
        q = q * signs.unsqueeze(-2)  # scale columns
    return q.transpose(-2, -1)  # rows of each block are orthonormal


def _iid_blocks(blocks: Sequence[Stream], head_dim: int) -> torch.Tensor:
    return _normals(blocks, head_dim)  # (n, d, d) iid N(0, 1)


def _chi_norms(blocks: Sequence[Stream], head_dim: int) -> torch.Tensor:
    # Norms of independent Gaussian vectors, from a sub-stream of each block: each row then has
    # an N(0, I_d) marginal (the directions are uniform, the lengths chi(d)). (n, d, 1)
    return _normals([block.child(0) for block in blocks], head_dim).norm(dim=-1, keepdim=True)


def _orthogonal_blocks(blocks: Sequence[Stream], head_dim: int) -> torch.Tensor:
    return orthonormal_blocks(blocks, head_dim) * _chi_norms(blocks, head_dim)


def _fixed_norm_blocks(blocks: Sequence[Stream], head_dim: int) -> torch.Tensor:
    return orthonormal_blocks(blocks, head_dim) * math.sqrt(head_dim)


def _simplex_blocks(blocks: Sequence[Stream], head_dim: int) -> torch.Tensor:
    # Simplex vertices S (d, d) rotated by each block's Haar Q: rows s_iᵀQ, then chi(d) norms.
    rotated = simplex_vertices(head_dim) @ orthonormal_blocks(blocks, head_dim)  # (n, d, d)
    return rotated * _chi_norms(blocks, head_dim)


@dataclass(frozen=True, kw_only=True)
class Projection:
    """One registry entry: how the rows of W are drawn, block by block."""

    name: str
    label: str
    directions: Literal["independent", "orthogonal", "simplex"]  # coupling of a block's rows
    norms: NormKind  # gaussian (iid rows), chi(d) lengths, or all √d
    gaussian_marginals: bool  # every row is N(0, I_d): unbiased maps stay unbiased
    blocks: Callable[[Sequence[Stream], int], torch.Tensor]  # n block streams, d → (n, d, d)

    def draw(self, num_features: int, head_dim: int, *, stream: Stream) -> torch.Tensor:
        """W of m rows: ⌈m/d⌉ blocks from ``stream.child(b)``, truncated. Shapes: (m, d)."""
        return self.draw_many(num_features, head_dim, streams=[stream])[0]

    def draw_many(
        self, num_features: int, head_dim: int, *, streams: Sequence[Stream]
    ) -> torch.Tensor:
        """``draw`` for each stream, as one batch (Monte Carlo). Shapes: (R, m, d), float64."""
        _check_sizes(num_features, head_dim)
        count = -(-num_features // head_dim)  # ⌈m/d⌉ blocks per draw
        rows = self.blocks([s.child(b) for s in streams for b in range(count)], head_dim)
        rows = rows.reshape(len(streams), count * head_dim, head_dim)  # (R, ⌈m/d⌉·d, d)
        return rows[:, :num_features]  # (R, m, d)


PROJECTIONS: MappingProxyType[str, Projection] = MappingProxyType(
    {
        "iid": Projection(
            name="iid",
            label="iid Gaussian rows",
            directions="independent",
            norms="gaussian",
            gaussian_marginals=True,
            blocks=_iid_blocks,
        ),
        "orthogonal": Projection(
            name="orthogonal",
            label="block-orthogonal rows, chi(d) norms (ORF)",
            directions="orthogonal",
            norms="chi",
            gaussian_marginals=True,
            blocks=_orthogonal_blocks,
        ),
        "fixed_norm": Projection(
            name="fixed_norm",
            label="block-orthogonal rows of norm √d (SMREG, regularized softmax)",
            directions="orthogonal",
            norms="sqrt_d",
            gaussian_marginals=False,
            blocks=_fixed_norm_blocks,
        ),
        "simplex": Projection(
            name="simplex",
            label="block-simplex rows, chi(d) norms (SimRF)",
            directions="simplex",
            norms="chi",
            gaussian_marginals=True,
            blocks=_simplex_blocks,
        ),
    }
)
PROJECTION_LABELS = MappingProxyType({name: p.label for name, p in PROJECTIONS.items()})


def get_projection(name: str) -> Projection:
    """The registry entry for a name (``fixed-norm`` is accepted for ``fixed_norm``)."""
    key = str(name).replace("-", "_")
    if key not in PROJECTIONS:
        raise ValueError(f"unknown projection {name!r}: use one of {', '.join(PROJECTIONS)}")
    return PROJECTIONS[key]


def draw_projection(kind: str, num_features: int, head_dim: int, *, stream: Stream) -> torch.Tensor:
    """Draw W of the named kind from ``stream`` (nested in m). Shapes: (m, d), float64, CPU."""
    return get_projection(kind).draw(num_features, head_dim, stream=stream)
