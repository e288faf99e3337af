"""The peers' feature maps and projections, as their code computes them (for ``recipes``).

Positive features with an eps after the exp (google-research performer ``fast_attention.py``,
``nonnegative_softmax_kernel_feature_creator``; lucidrains performer-pytorch 1.1.4
``softmax_kernel``), with x = q·d^{−1/4} (their ``data_normalizer``, our x = q·√scale):
  query  φ(x_i)_r = m^{−1/2}·(exp(w_r·x_i − |x_i|²/2 − max_r' w_r'·x_i) + ε)
  key    φ(y_j)_r = m^{−1/2}·(exp(w_r·y_j − |y_j|²/2 − max_{j', r'} w_r'·y_j') + ε)
The shifts are maxima of W·x alone (not of the exponent), per query row and over all (key,
feature) pairs of a head; without ε they cancel, with ε they set how large ε is relative to
the kernel. Hyperbolic features without any stabiliser (fast-transformers ``Favor``,
``stabilize=False``): φ(x) = [exp(Wx − |x|²/2), exp(−Wx − |x|²/2)]/√(2m).
Projections without Mezzadri's sign fix (``projections.orthonormal_blocks``): chi(d) norms
from independent Gaussian rows (google-research, performer-pytorch ``scaling=0``), or the row
norms of the very Gaussian block that was QR-factorised (fast-transformers
``orthogonal_random_matrix_``). Shapes: x (..., l, d), y (..., s, d), W (m, d).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from explorer.kernels.exponential import _half_sq_norm, hyperbolic_exponent
from explorer.kernels.projections import orthonormal_blocks
from explorer.streams import Stream

Pair = tuple[torch.Tensor, torch.Tensor]
PeerNorms = Literal["independent", "own"]


def eps_positive_features(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, *, eps: float) -> Pair:
    """m^{−1/2}(exp(Wx − |x|²/2 − max Wx) + ε), keys shifted by their head's global max."""
    ratio = 1.0 / math.sqrt(w.shape[0])
    wx, wy = x @ w.T, y @ w.T  # (..., l, m), (..., s, m)
    query_shift = wx.amax(dim=-1, keepdim=True)  # (..., l, 1): per query row
    key_shift = wy.amax(dim=(-2, -1), keepdim=True)  # (..., 1, 1): over all keys and features
    phi_x = (torch.exp(wx - _half_sq_norm(x) - query_shift) + eps) * ratio
    phi_y = (torch.exp(wy - _half_sq_norm(y) - key_shift) + eps) * ratio
    return phi_x, phi_y


def unstabilised_hyperbolic_features(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> Pair:
    """[exp(Wx − |x|²/2), exp(−Wx − |x|²/2)]/√(2m) with no shift (fast-transformers ``Favor``)."""
    log_x, log_y = hyperbolic_exponent(x, y, w)  # (..., l, 2m), (..., s, 2m)
    return log_x.exp_(), log_y.exp_()


def plain_qr_projection(
    num_features: int, head_dim: int, *, stream: Stream, norms: PeerNorms
) -> torch.Tensor:
    """Block-orthogonal W from plain QR (no sign fix), blocks from ``stream.child(b)``.

    ``norms="independent"``: chi(d) lengths from the sub-stream ``child(0)`` of each block,
    exactly as the ``orthogonal`` projection draws them, so the two differ only by the sign
    fix (rows of W flipped). ``"own"``: the row norms of the block's own Gaussian matrix.
    Shapes: (m, d), float64 on the CPU.
    """
    if num_features < 1 or head_dim < 1:
        raise ValueError(f"need m ≥ 1 and d ≥ 1, got m = {num_features}, d = {head_dim}")
    count = -(-num_features // head_dim)  # ⌈m/d⌉ blocks
    blocks = [stream.child(b) for b in range(count)]
    rows = orthonormal_blocks(blocks, head_dim, sign_correction=False)  # (n, d, d)
    sources = blocks if norms == "own" else [block.child(0) for block in blocks]
    gaussian = torch.stack([s.normal(head_dim, head_dim) for s in sources])  # (n, d, d)
    lengths = gaussian.norm(dim=-1, keepdim=True)  # (n, d, 1)
    return (rows * lengths).reshape(count * head_dim, head_dim)[:num_features]  # (m, d)


def query_sum_seed(queries: np.ndarray | torch.Tensor) -> int:
    """google-research's redraw seed ⌈Σq·10⁷⌉ (an int32 PRNG key there), here mod 2³².

    A function of the queries alone: a user's seed does not move it, new data does.
    """
    total = float(torch.as_tensor(queries).double().sum())
    if not math.isfinite(total):
        raise ValueError("the queries are not finite: no data-derived seed")
    return int(math.ceil(total * 1e7)) % 2**32
