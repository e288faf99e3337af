"""Plain data behind the scaling charts: summaries over seeds and the curves drawn beside them.

A sweep table (``experiments.sweep``) has one row per run; ``seed_summary`` reduces it to mean,
standard deviation and range per curve and x value. The delta method (theory notes §2.9) gives
the output MSE of positive features with m iid vectors as C/m, and the normaliser's relative
variance as V/m, so one evaluation at m₀ gives the whole curve: error(m) = error(m₀)·√(m₀/m),
trusted where max Var(D̂)/D² ≤ ``VALID_DENOMINATOR_VARIANCE``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from explorer.theory.closed_forms import VALID_DENOMINATOR_VARIANCE, DeltaMethodPrediction

BASELINES = {  # metric → its uniform-attention baseline column in a sweep table
    "output_relative_error": "uniform_baseline_error",
    "weights_relative_error": "uniform_weights_error",
    "row_tv_mean": "uniform_row_tv_mean",
}
TEMPERATURES = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0)  # softmax_scale = τ/√d on given data
INPUT_SCALES = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.4)  # σ of synthetic q, k


def error_metric(table: pd.DataFrame) -> str:
    """The output error when the runs had V, else the attention-matrix error."""
    has_output = "output_relative_error" in table and table["output_relative_error"].notna().any()
    return "output_relative_error" if has_output else "weights_relative_error"


def seed_summary(
    table: pd.DataFrame, *, x: str, by: Sequence[str], metric: str = "output_relative_error"
) -> pd.DataFrame:
    """Mean, std, min and max of ``metric`` over seeds for every curve (``by``) and ``x``.

    Also the mean uniform baseline and mean |x+y|² of those runs. Columns: *by, x, mean, std,
    low, high, runs, baseline, mean_pair_sq_sum.
    """
    if table.empty:
        raise ValueError("the sweep table is empty")
    missing = {x, metric, *by} - set(table.columns)
    if missing:
        raise ValueError(f"the sweep table has no column(s) {', '.join(sorted(missing))}")
    values = table[metric].astype(float)
    frame = table.assign(_value=values, _baseline=table[BASELINES[metric]].astype(float))
    grouped = frame.groupby([*by, x], sort=True)
    summary = grouped.agg(
        mean=("_value", "mean"),
        std=("_value", "std"),
        low=("_value", "min"),
        high=("_value", "max"),
        runs=("_value", "size"),
        baseline=("_baseline", "mean"),
        mean_pair_sq_sum=("mean_pair_sq_sum", "mean"),
    )
    return summary.reset_index().fillna({"std": 0.0})


def delta_method_curve(
    prediction: DeltaMethodPrediction, *, reference_m: int, ms: Sequence[int]
) -> pd.DataFrame:
    """Predicted output error of positive iid features at each m, from one evaluation at m₀.

    Columns: num_features, predicted, denominator_variance (max over rows), valid.
    """
    if reference_m < 1:
        raise ValueError(f"reference_m must be at least 1, got {reference_m}")
    worst = float(np.max(prediction.denominator_variance)) if prediction.row_mse.size else 0.0
    rows = []
    for m in ms:
        ratio = reference_m / int(m)
        variance = worst * ratio
        rows.append(
            (
                int(m),
                prediction.predicted_relative_error * math.sqrt(ratio),
                variance,
                variance <= VALID_DENOMINATOR_VARIANCE,
            )
        )
    return pd.DataFrame(
        rows, columns=["num_features", "predicted", "denominator_variance", "valid"]
    )


def smallest_valid_m(curve: pd.DataFrame) -> int | None:
    """The smallest m on the curve where the delta method is trusted (None: nowhere)."""
    valid = curve.loc[curve["valid"], "num_features"]
    return int(valid.min()) if len(valid) else None


def breakdown(summary: pd.DataFrame, *, x: str, by: str = "feature_map") -> dict[str, float | None]:
    """For each curve, the smallest x from which the mean error stays at or above the baseline.

    None: the estimator ends below the uniform baseline (at tiny scales attention is nearly
    uniform, so the baseline is hard to beat there; that early crossing is not a breakdown).
    """
    points: dict[str, float | None] = {}
    for name, group in summary.groupby(by, sort=False):
        group = group.sort_values(x)
        worse = (group["mean"] >= group["baseline"]).to_numpy()
        if not worse[-1]:
            points[str(name)] = None
            continue
        below = np.flatnonzero(~worse)
        start = below[-1] + 1 if below.size else 0
        points[str(name)] = float(group[x].iloc[start])
    return points


def best_at(summary: pd.DataFrame, *, x: str, value: float, by: str = "feature_map") -> str:
    """The curve with the lowest mean error at x = value."""
    rows = summary[np.isclose(summary[x], value)]
    return str(rows.loc[rows["mean"].idxmin(), by])


def error_ratio(
    summary: pd.DataFrame, *, x: str, numerator: str, denominator: str, by: str = "feature_map"
) -> pd.Series:
    """Mean error of one curve divided by another's at each x (e.g. oprf over positive)."""
    means = summary.pivot_table(index=x, columns=by, values="mean")
    missing = {numerator, denominator} - set(means.columns)
    if missing:
        raise ValueError(f"no curve named {', '.join(sorted(missing))} in the summary")
    return means[numerator] / means[denominator]


def with_temperature(table: pd.DataFrame, head_dim: int) -> pd.DataFrame:
    """Add τ = softmax_scale·√d (the multiplier of the default 1/√d) to a sweep table."""
    return table.assign(temperature=table["softmax_scale"].astype(float) * math.sqrt(head_dim))


def softmax_scales(head_dim: int, temperatures: Sequence[float] = TEMPERATURES) -> list[float]:
    """softmax_scale = τ/√d for each multiplier τ of the default 1/√d scale."""
    if head_dim < 1:
        raise ValueError(f"head_dim must be at least 1, got {head_dim}")
    return [float(t) / math.sqrt(head_dim) for t in temperatures]
