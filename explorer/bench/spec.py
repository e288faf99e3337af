"""One benchmark input, drawn from seeds: q, k ~ σ·N(0, 1), v ~ N(0, 1) and an orthogonal W.

The data come from the ``bench_data`` stream and W from the ``features`` stream of the same
seed: independent, whatever the seed. m, σ, the dtype and the seed default to the project's
``ExperimentConfig`` defaults; batch, heads and d are the benchmark's own (Performer Fig. 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.device import DTYPES, compute_dtype, resolve_device
from explorer.experiments.config import DEFAULTS
from explorer.kernels.projections import draw_projection
from explorer.streams import stream

NAIVE_MAX_BYTES = 4 * 2**30  # naive attention is skipped above this L×L footprint


@dataclass(frozen=True, kw_only=True)
class BenchSpec:
    """One benchmark input: q, k ~ σ·N(0, 1), v ~ N(0, 1), W orthogonal, all from seeds."""

    seq_len: int
    causal: bool = False
    batch: int = 1
    heads: int = 8
    head_dim: int = 64
    num_features: int = DEFAULTS.num_features
    dtype: str = DEFAULTS.dtype
    device: str = "cpu"
    input_scale: float = DEFAULTS.input_scale
    seed: int = DEFAULTS.seed
    naive_max_bytes: int = NAIVE_MAX_BYTES


def make_inputs(spec: BenchSpec) -> tuple[torch.Tensor, ...]:
    """q, k, v (b, h, l, d) in the spec's dtype on its device, and W (m, d) in compute dtype."""
    device, dtype = resolve_device(spec.device), DTYPES[spec.dtype]
    generator = stream("bench_data", spec.seed).generator()
    shape = (spec.batch, spec.heads, spec.seq_len, spec.head_dim)

    def draw(scale: float) -> torch.Tensor:
        values = torch.from_numpy(generator.standard_normal(shape, dtype=np.float32))
        return values.mul_(scale).to(device=device, dtype=dtype)

    q, k, v = draw(spec.input_scale), draw(spec.input_scale), draw(1.0)
    w = draw_projection(
        "orthogonal", spec.num_features, spec.head_dim, stream=stream("features", spec.seed)
    )
    return q, k, v, w.to(device=device, dtype=compute_dtype(dtype))
