"""Resource budget per request, configurable by whoever deploys the explorer.

Checked before any large allocation: the maximum L (query and key lengths), m, heads and sweep
size, the bytes of everything a comparison holds at once (features, outputs, l×s row blocks),
the wall-clock limit of a sweep, and how many heavy computations run at once. A request over
budget gets a ``BudgetError`` naming the limit and how to lower the work. Set through
environment variables (plain integers or seconds):

  EXPLORER_MAX_SEQ_LEN      longest query or key sequence        (default 65536)
  EXPLORER_MAX_FEATURES     largest m                            (default 8192)
  EXPLORER_MAX_HEADS        heads compared at once               (default 64)
  EXPLORER_MAX_SWEEP_RUNS   comparisons in one sweep             (default 512)
  EXPLORER_MEMORY_MB        memory one comparison may hold       (default 3072)
  EXPLORER_SWEEP_TIMEOUT_S  a sweep stops after this many s      (default 600)
  EXPLORER_MAX_CONCURRENT   heavy computations at once (the app) (default 2)
  EXPLORER_MAX_FIT_MMAC     multiply-adds of one learned-map fit, in millions (default
                            1000000: 10¹², about a minute or two on 2 CPU cores)
  EXPLORER_TORCH_THREADS    torch threads per process (default 0: torch's own choice; a host
                            serving many sessions sets cores / EXPLORER_MAX_CONCURRENT)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from explorer.errors import BudgetError
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.learned import fit_bytes, fit_work
from explorer.kernels.recipes import get_recipe

ENV = {
    "max_seq_len": "EXPLORER_MAX_SEQ_LEN",
    "max_features": "EXPLORER_MAX_FEATURES",
    "max_heads": "EXPLORER_MAX_HEADS",
    "max_sweep_runs": "EXPLORER_MAX_SWEEP_RUNS",
    "memory_mb": "EXPLORER_MEMORY_MB",
    "sweep_timeout_s": "EXPLORER_SWEEP_TIMEOUT_S",
    "max_concurrent": "EXPLORER_MAX_CONCURRENT",
    "max_fit_mmac": "EXPLORER_MAX_FIT_MMAC",
    "torch_threads": "EXPLORER_TORCH_THREADS",
}


@dataclass(frozen=True, kw_only=True)
class Workload:
    """The sizes one comparison works on, read from its config and inputs."""

    heads: int  # h
    seq_len: int  # l
    key_len: int  # s
    head_dim: int  # d
    value_dim: int  # e (0 without V)
    feature_map: str
    num_features: int  # m

    @property
    def feature_dim(self) -> int:
        return get_feature_map(self.feature_map).feature_dim(self.num_features, self.head_dim)

    @property
    def fit_work(self) -> int:
        """Multiply-adds of fitting the map to every head (0: not a fitted map)."""
        if get_feature_map(self.feature_map).fit is None:
            return 0
        return fit_work(self.heads, self.seq_len, self.key_len, self.num_features, self.head_dim)

    @classmethod
    def of(cls, config, inputs=None) -> Workload:
        """The workload of ``compare(config, inputs)`` (synthetic sizes from the config)."""
        if inputs is None:
            c = config
            heads, l, s, d = c.num_heads, c.seq_len, c.key_len or c.seq_len, c.head_dim
            e = c.value_dim or d
        else:
            q, k, v = inputs.q, inputs.k, inputs.v
            heads, l, s, d = q.shape[0], q.shape[1], k.shape[1], q.shape[2]
            e = 0 if v is None else v.shape[2]
        return cls(
            heads=heads,
            seq_len=l,
            key_len=s,
            head_dim=d,
            value_dim=e,
            # a peer's recipe replaces the config's map: size its own features
            feature_map=get_recipe(config.recipe).sized_as or config.feature_map,
            num_features=config.num_features,
        )


@dataclass(frozen=True, kw_only=True)
class Budget:
    """Caps on one request (see the module docstring for the environment variables)."""

    max_seq_len: int = 65536
    max_features: int = 8192
    max_heads: int = 64
    max_sweep_runs: int = 512
    memory_mb: int = 3072
    sweep_timeout_s: int = 600
    max_concurrent: int = 2
    max_fit_mmac: int = 1_000_000  # 10¹² multiply-adds per fit of a learned map
    torch_threads: int = 0  # 0: leave torch's default

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            low = 0 if f.name == "torch_threads" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"Budget.{f.name} must be an integer ≥ 1, got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Budget:
        environ = os.environ if environ is None else environ
        values = {}
        for name, key in ENV.items():
            text = environ.get(key, "").strip().replace("_", "")
            if text:
                if not text.isdigit():
                    raise ValueError(f"{key} must be a positive integer, got {text[:40]!r}")
                values[name] = int(text)
        return cls(**values)

    def check_comparison(self, workload: Workload) -> None:
        """BudgetError unless one comparison of this size fits every cap."""
        longest = max(workload.seq_len, workload.key_len)
        if longest > self.max_seq_len:
            raise BudgetError(
                f"sequence length {longest:,} is over the limit of {self.max_seq_len:,} "
                "(EXPLORER_MAX_SEQ_LEN): use a shorter L or a crop"
            )
        if workload.num_features > self.max_features:
            raise BudgetError(
                f"m = {workload.num_features:,} random features is over the limit of "
                f"{self.max_features:,} (EXPLORER_MAX_FEATURES): choose a smaller m"
            )
        if workload.heads > self.max_heads:
            raise BudgetError(
                f"{workload.heads} heads at once is over the limit of {self.max_heads} "
                "(EXPLORER_MAX_HEADS): pick one head or a layer with fewer heads"
            )
        if workload.fit_work > self.max_fit_mmac * 10**6:
            raise BudgetError(
                f"fitting the {workload.feature_map} map to {workload.heads} head(s) takes about "
                f"{workload.fit_work / 1e9:,.0f} billion multiply-adds, over the limit of "
                f"{self.max_fit_mmac / 1e3:,.0f} billion (EXPLORER_MAX_FIT_MMAC): lower m, L or "
                "the number of heads"
            )
        need = comparison_bytes(workload)
        if need > self.memory_mb * 2**20:
            raise BudgetError(
                f"this comparison needs about {need / 2**20:,.0f} MB, over the budget of "
                f"{self.memory_mb:,} MB (EXPLORER_MEMORY_MB): lower L, m or the number of heads"
            )

    def check_report(self, grid, inputs) -> None:
        """BudgetError unless a report grid's largest cell of each map fits, on one head of
        ``inputs`` (a layer's inputs; the report works a block of heads at a time)."""
        largest = grid.cell_config(grid.feature_maps[0], grid.projections[0], grid.max_features, 0)
        for name in grid.feature_maps:
            self.check_comparison(Workload.of(replace(largest, feature_map=name), inputs.head(0)))

    def check_sweep(self, runs: int) -> None:
        if runs > self.max_sweep_runs:
            raise BudgetError(
                f"a sweep of {runs:,} runs is over the limit of {self.max_sweep_runs:,} "
                "(EXPLORER_MAX_SWEEP_RUNS): use fewer values per axis or fewer seeds"
            )


def comparison_bytes(
    workload: Workload, *, block_bytes: int = 256 * 2**20, itemsize: int = 4
) -> int:
    """Upper estimate of what ``compare`` holds at once: inputs (float64 copies and working
    tensors), features φ(q), φ(k) with their stabiliser temporaries, outputs, the display maps
    (≤ 1024² per head), the l×s row blocks of the exact metrics and a learned map's fit."""
    w = workload
    rows, keys = w.heads * w.seq_len, w.heads * w.key_len
    inputs = (rows + keys) * w.head_dim * (8 + 2 * itemsize) + keys * w.value_dim * (8 + itemsize)
    features = (3 * (rows + keys) + keys) * w.feature_dim * itemsize  # + φ(k)ᵀ of the metrics
    outputs = 4 * rows * w.value_dim * itemsize
    maps = 2 * w.heads * min(w.seq_len, 1024) * min(w.key_len, 1024) * 4
    fitting = fit_bytes(w.heads, w.seq_len, w.key_len) if w.fit_work else 0  # a learned map
    return inputs + features + outputs + maps + block_bytes + fitting
