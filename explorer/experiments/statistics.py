"""Statistics of the inputs that predict the error: |x|², |y|² and |x_i + y_j|².

Positive random features have relative MSE (e^{|x+y|²} − 1)/m per kernel value (Performer
Lemma 2), so the mean |x + y|² over all pairs (exact, in O((l + s)·d)) and a sample of pairs for
histograms say how hard the inputs are before any feature is drawn. The sampled pairs come from
the data seed's own ``pair_sample`` stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from explorer.kernels.exponential import mean_pair_sq_sum
from explorer.streams import stream

PAIR_SAMPLE = 20_000  # sampled (i, j) pairs of |x_i + y_j|² kept for histograms


@dataclass(frozen=True, kw_only=True)
class InputStatistics:
    """The quantities that predict the error (theory: positive rMSE = (e^{|x+y|²} − 1)/m)."""

    x_sq_norms: np.ndarray  # (n, l): |x_i|², x = q·√scale
    y_sq_norms: np.ndarray  # (n, s)
    mean_pair_sq_sum: np.ndarray  # (n,): mean over all pairs of |x_i + y_j|²
    pair_sq_sum_sample: np.ndarray  # (≤ PAIR_SAMPLE,): |x_i + y_j|² of random pairs


def input_statistics(x: torch.Tensor, y: torch.Tensor, *, seed: int = 0) -> InputStatistics:
    """|x|², |y|², mean and a random sample of |x_i + y_j|² (O(l·d) memory).

    Shapes: x (..., l, d), y (..., s, d) broadcasting (grouped heads: (h_kv, g, ·) against
    (h_kv, 1, ·)); per-query-head arrays come out (h, ·), the key norms per key head (h_kv, s).
    """
    batch = torch.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    n = math.prod(batch)
    xf = x.expand(*batch, *x.shape[-2:]).reshape(n, *x.shape[-2:]).cpu()  # (h, l, d)
    yk = y.reshape(-1, *y.shape[-2:]).cpu()  # (h_kv, s, d): each key head once
    kv = torch.arange(yk.shape[0]).reshape(y.shape[:-2] or (1,)).expand(batch).reshape(-1)
    generator = stream("pair_sample", seed).generator()
    i, j, h = (
        torch.from_numpy(generator.integers(size, size=PAIR_SAMPLE))
        for size in (x.shape[-2], y.shape[-2], n)
    )
    pairs = ((xf[h, i] + yk[kv[h], j]) ** 2).sum(-1)  # (PAIR_SAMPLE,)
    return InputStatistics(
        x_sq_norms=(xf**2).sum(-1).double().numpy(),
        y_sq_norms=(yk**2).sum(-1).double().numpy(),
        mean_pair_sq_sum=mean_pair_sq_sum(x.double(), y.double()).reshape(-1).cpu().numpy(),
        pair_sq_sum_sample=pairs.double().numpy(),
    )
