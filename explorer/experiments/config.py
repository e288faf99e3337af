"""The settings of one comparison: a frozen, validated ``ExperimentConfig``.

Its field defaults are the project's defaults: the sidebar, the command line, the benchmark and
the figures read them from here (``DEFAULTS``), never restating them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from explorer.attention.exact import DEFAULT_MEMORY_BUDGET
from explorer.attention.linear import DEFAULT_CHUNK
from explorer.device import resolve_dtype
from explorer.inputs.synthetic import SYNTHETIC_KINDS, SyntheticSpec
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.projections import PROJECTIONS


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Settings of one comparison; the synthetic-data fields apply when no inputs are given."""

    feature_map: str = "positive"  # key of FEATURE_MAPS
    num_features: int = 256  # m random vectors (trig and hyperbolic give 2m features)
    projection: str = "orthogonal"  # iid | orthogonal | fixed_norm
    seed: int = 0  # draws W: vary it to see the redraw spread
    causal: bool = False
    softmax_scale: float | None = None  # None: 1/√d like SDPA
    device: str = "auto"  # auto: cuda, then mps, then cpu
    dtype: str = "float32"  # half types are computed with float32 features and sums
    seq_len: int = 256  # l (synthetic)
    key_len: int | None = None  # s (synthetic); None: s = l
    head_dim: int = 64  # d (synthetic)
    value_dim: int | None = None  # e (synthetic); None: e = d
    num_heads: int = 1  # h (synthetic)
    input_scale: float = 0.35  # σ of synthetic q, k: E|x|² = σ²√d ≈ 1 at d = 64 (moderate)
    data_seed: int = 0  # draws synthetic q, k, v
    data_kind: str = "gaussian"  # gaussian | aligned | clustered | low_rank (inputs.synthetic)
    alignment: float = 0.8  # aligned: how far each key leans to its query, in [0, 1]
    num_clusters: int = 4  # clustered: number of token groups
    rank: int = 4  # low_rank: directions that Q and K live in
    row_sample: int | None = None  # query rows per head behind the P̂ metrics; None: all
    memory_budget: int = DEFAULT_MEMORY_BUDGET  # bytes of l×s blocks alive at once
    chunk_size: int = DEFAULT_CHUNK  # causal prefix-sum block length

    def __post_init__(self) -> None:
        get_feature_map(self.feature_map)
        if self.projection not in PROJECTIONS:
            raise ValueError(
                f"unknown projection {self.projection!r}: use one of {', '.join(PROJECTIONS)}"
            )
        positive = (
            "num_features",
            "seq_len",
            "head_dim",
            "num_heads",
            "chunk_size",
            "memory_budget",
        )
        for name in positive:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("key_len", "value_dim", "row_sample"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("seed", "data_seed"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        if not (math.isfinite(self.input_scale) and self.input_scale >= 0):
            raise ValueError(f"input_scale must be finite and ≥ 0, got {self.input_scale}")
        if self.softmax_scale is not None and not (
            math.isfinite(self.softmax_scale) and self.softmax_scale > 0
        ):
            raise ValueError(f"softmax_scale must be finite and > 0, got {self.softmax_scale}")
        resolve_dtype(self.dtype, torch.device("cpu"))  # name check; device checked on use
        if self.data_kind not in SYNTHETIC_KINDS:
            raise ValueError(
                f"unknown data_kind {self.data_kind!r}: use one of {', '.join(SYNTHETIC_KINDS)}"
            )

    def synthetic_spec(self) -> SyntheticSpec:
        """The synthetic data these settings describe (used when no inputs are given)."""
        return SyntheticSpec(
            kind=self.data_kind,
            num_heads=self.num_heads,
            seq_len=self.seq_len,
            key_len=self.key_len,
            head_dim=self.head_dim,
            value_dim=self.value_dim,
            input_scale=self.input_scale,
            seed=self.data_seed,
            alignment=self.alignment,
            num_clusters=self.num_clusters,
            rank=self.rank,
        )


DEFAULTS = ExperimentConfig()  # the one place the defaults are read from
