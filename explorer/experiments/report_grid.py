"""The grid of a model report: which maps, projections, m and seeds, and the target heads must hit.

A report covers every (layer, head) of a capture for every cell (feature map, projection, m,
seed) of this grid. Each cell is the ``compare`` of ``cell_config`` on that one head, so the
grid's settings are ``ExperimentConfig`` fields and their defaults are read from ``DEFAULTS``.
The target of a head: mean output error over the seeds ≤ ``target_ratio`` × its uniform
baseline, or ≤ ``target_error`` when that is given (an absolute relative error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from explorer.attention.blocks import DEFAULT_MEMORY_BUDGET
from explorer.experiments.config import DEFAULTS, ExperimentConfig
from explorer.kernels.feature_maps import FEATURE_MAPS, get_feature_map
from explorer.kernels.projections import get_projection

# The four unbiased softmax estimators, in the registry's spelling (kept if the registry has them)
_PREFERRED_MAPS = ("positive", "oprf", "hyperbolic", "trig")
DEFAULT_MAPS: tuple[str, ...] = tuple(name for name in _PREFERRED_MAPS if name in FEATURE_MAPS)
DEFAULT_NUM_FEATURES: tuple[int, ...] = tuple(2**i for i in range(4, 11))  # 16 … 1024
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)
DEFAULT_TARGET_RATIO = 0.5  # mean output error ≤ ½ × the uniform baseline
COUNT_THRESHOLDS: tuple[int, ...] = (64, 256, 1024)  # heads reaching the target at m ≤ these


def _positive_ints(name: str, values: tuple) -> None:
    if not values:
        raise ValueError(f"{name} must hold at least one value")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must hold positive integers, got {value!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} has repeated values: {values}")


@dataclass(frozen=True, kw_only=True)
class ReportGrid:
    """Settings of a model report; every cell is ``compare(cell_config(...), head)``."""

    feature_maps: tuple[str, ...] = DEFAULT_MAPS
    projections: tuple[str, ...] = (DEFAULTS.projection,)
    num_features: tuple[int, ...] = DEFAULT_NUM_FEATURES  # sorted ascending
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    target_ratio: float = DEFAULT_TARGET_RATIO
    target_error: float | None = None  # absolute target; overrides the ratio when given
    row_sample: int | None = None  # query rows per head behind the P̂ metrics (compare's)
    layers: tuple[int, ...] | None = None  # capture entries to cover; None: all
    device: str = DEFAULTS.device
    dtype: str = DEFAULTS.dtype
    memory_budget: int = DEFAULT_MEMORY_BUDGET  # bytes of l×s blocks alive at once

    def __post_init__(self) -> None:
        if not self.feature_maps:
            raise ValueError("feature_maps must name at least one map")
        for name in self.feature_maps:
            get_feature_map(name)
        object.__setattr__(
            self, "projections", tuple(get_projection(p).name for p in self.projections)
        )
        if not self.projections:
            raise ValueError("projections must name at least one projection")
        _positive_ints("num_features", self.num_features)
        object.__setattr__(self, "num_features", tuple(sorted(self.num_features)))
        if not self.seeds or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds
        ):
            raise ValueError(f"seeds must be non-negative integers, got {self.seeds!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds has repeated values: {self.seeds}")
        if not (math.isfinite(self.target_ratio) and self.target_ratio > 0):
            raise ValueError(f"target_ratio must be finite and > 0, got {self.target_ratio}")
        if self.target_error is not None and not (
            math.isfinite(self.target_error) and self.target_error > 0
        ):
            raise ValueError(f"target_error must be finite and > 0, got {self.target_error}")
        if self.layers is not None and any(
            isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in self.layers
        ):
            raise ValueError(f"layers must be non-negative integers, got {self.layers!r}")
        self.cell_config(self.feature_maps[0], self.projections[0], self.num_features[0], 0)

    @property
    def max_features(self) -> int:
        return self.num_features[-1]

    @property
    def cells_per_head(self) -> int:
        sizes = (self.feature_maps, self.projections, self.num_features, self.seeds)
        return math.prod(len(values) for values in sizes)

    def target_label(self) -> str:
        if self.target_error is not None:
            return f"mean output error ≤ {self.target_error:g}"
        return f"mean output error ≤ {self.target_ratio:g} × the uniform baseline"

    def notes(self) -> tuple[str, ...]:
        """What some cells cover differently: a fitted map's cells are on its held-out rows."""
        return tuple(
            f"{name}: fitted to each head (m, seed) on its even query rows; its cells cover the "
            "held-out odd rows only (rows_evaluated), output errors and baseline included"
            for name in self.feature_maps
            if get_feature_map(name).fit is not None
        )

    def cell_config(
        self, feature_map: str, projection: str, num_features: int, seed: int
    ) -> ExperimentConfig:
        """The ``compare`` settings of one cell (softmax: the inputs' own, as compare does)."""
        return replace(
            DEFAULTS,
            feature_map=feature_map,
            projection=projection,
            num_features=num_features,
            seed=seed,
            row_sample=self.row_sample,
            device=self.device,
            dtype=self.dtype,
            memory_budget=self.memory_budget,
        )

    def fingerprint(self) -> dict[str, object]:
        """What a checkpoint must match to be reused (everything that changes a cell)."""
        return {
            "feature_maps": list(self.feature_maps),
            "projections": list(self.projections),
            "num_features": list(self.num_features),
            "seeds": list(self.seeds),
            "row_sample": self.row_sample,
            "dtype": self.dtype,
        }


DEFAULT_GRID = ReportGrid()
