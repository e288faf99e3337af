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
    """|x|², |y|², mean and a random sample of |x_i + y_j|² (O(l·d) memory)."""
    n = math.prod(x.shape[:-2])
    generator = stream("pair_sample", seed).generator()
    i, j, h = (
        torch.from_numpy(generator.integers(size, size=PAIR_SAMPLE))
        for size in (x.shape[-2], y.shape[-2], n)
    )
    xf, yf = x.reshape(n, *x.shape[-2:]).cpu(), y.reshape(n, *y.shape[-2:]).cpu()  # (n, l|s, d)
    pairs = ((xf[h, i] + yf[h, j]) ** 2).sum(-1)  # (PAIR_SAMPLE,)
    return InputStatistics(
        x_sq_norms=(xf**2).sum(-1).double().numpy(),
        y_sq_norms=(yf**2).sum(-1).double().numpy(),
        mean_pair_sq_sum=mean_pair_sq_sum(xf.double(), yf.double()).numpy(),
        pair_sq_sum_sample=pairs.double().numpy(),
    )
