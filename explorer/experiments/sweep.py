"""A sweep: ``compare`` over the product of chosen axes and seeds, as one tidy table.

One row per run, with the varied settings and the scalar metrics, ready for plotting
(error vs m, vs σ, vs L ...) or CSV. Inputs are drawn once per distinct data setting.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace

import pandas as pd

from explorer.cancel import checkpoint
from explorer.errors import BudgetError
from explorer.experiments.compare import ExperimentConfig, compare, synthetic_inputs
from explorer.inputs.attention_inputs import AttentionInputs

SWEEP_AXES = (
    "feature_map",
    "projection",
    "num_features",
    "input_scale",
    "seq_len",
    "head_dim",
    "num_heads",
    "causal",
    "data_seed",
    "data_kind",
    "alignment",
    "num_clusters",
    "rank",
    "softmax_scale",
)
DATA_AXES = (  # axes that change synthetic data (not allowed on given inputs)
    "input_scale",
    "seq_len",
    "head_dim",
    "num_heads",
    "data_seed",
    "data_kind",
    "alignment",
    "num_clusters",
    "rank",
)
METRIC_COLUMNS = (
    "output_relative_error",
    "uniform_baseline_error",
    "weights_relative_error",
    "uniform_weights_error",
    "max_abs_error",
    "output_max_abs_error",
    "row_tv_mean",
    "uniform_row_tv_mean",
    "row_kl_mean",
    "row_kl_mean_defined",
    "uniform_row_kl_mean",
    "kl_undefined_rows",
    "rows_evaluated",
)
Progress = Callable[[int, int, ExperimentConfig], None]


def sweep_configs(
    base: ExperimentConfig, axes: Mapping[str, Sequence], seeds: Sequence[int]
) -> list[ExperimentConfig]:
    """Every combination of the axes' values and seeds, as configs (validated up front)."""
    unknown = set(axes) - set(SWEEP_AXES)
    if unknown:
        raise ValueError(
            f"cannot sweep over {', '.join(sorted(unknown))}: axes are {', '.join(SWEEP_AXES)}"
        )
    if not seeds:
        raise ValueError("a sweep needs at least one seed")
    names = list(axes)
    for name in names:
        if len(axes[name]) == 0:
            raise ValueError(f"axis {name!r} has no values")
    configs = []
    for values in itertools.product(*(axes[n] for n in names), seeds):
        settings = dict(zip(names, values[:-1], strict=True))
        configs.append(replace(base, **settings, seed=values[-1]))
    return configs


def sweep(
    base: ExperimentConfig,
    axes: Mapping[str, Sequence],
    *,
    seeds: Sequence[int] = (0,),
    inputs: AttentionInputs | None = None,
    progress: Progress | None = None,
    timeout_s: float | None = None,
) -> pd.DataFrame:
    """Run ``compare`` for each configuration; ``progress(done, total, config)`` after each.

    With ``timeout_s`` the sweep stops with a BudgetError once it has run that long.
    """
    if inputs is not None and set(axes) & set(DATA_AXES):
        raise ValueError(
            f"axes {', '.join(sorted(set(axes) & set(DATA_AXES)))} change synthetic data and "
            "cannot be swept on given inputs"
        )
    configs = sweep_configs(base, axes, seeds)
    data: dict[tuple, AttentionInputs] = {}
    rows = []
    start = time.monotonic()
    for done, config in enumerate(configs, start=1):
        checkpoint()  # a cancelled sweep stops between runs (and inside one, per row block)
        if done > 1 and timeout_s is not None and time.monotonic() - start > timeout_s:
            raise BudgetError(
                f"the sweep stopped after {done - 1} of {len(configs)} runs: it passed its "
                f"{timeout_s:g} s limit (EXPLORER_SWEEP_TIMEOUT_S); use fewer values or seeds"
            )
        run_inputs = inputs
        if run_inputs is None:
            key = tuple(getattr(config, name) for name in (*DATA_AXES, "key_len", "value_dim"))
            if key not in data:
                if len(data) >= 4:  # bound memory: few data sets alive at once
                    data.clear()
                data[key] = synthetic_inputs(config)
            run_inputs = data[key]
        result = compare(config, run_inputs, with_maps=False)
        row = {k: v for k, v in asdict(config).items() if k != "memory_budget"}
        row.update(
            inputs=result.inputs_name,
            device=result.device,
            feature_dim=result.feature_dim,
            mean_pair_sq_sum=float(result.statistics.mean_pair_sq_sum.mean()),
            negative_rows=result.negative_rows,
            small_rows=result.small_rows,
            out_of_range_rows=result.out_of_range_rows,
            approx_seconds=result.timings.approx_seconds,
            reference_seconds=result.timings.reference_seconds,
        )
        row.update({name: getattr(result.metrics, name) for name in METRIC_COLUMNS})
        rows.append(row)
        if progress is not None:
            progress(done, len(configs), config)
    return pd.DataFrame(rows)
