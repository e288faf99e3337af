"""What a report concludes: per head the best map and the m it needs, per model a recommendation.

Per (layer, head, map, projection) the curve is the mean output error over the seeds at each m
(the weights' relative error when the capture has no V). The target t is ``target_error``, or
``target_ratio`` × the head's uniform baseline (mean output error of uniform attention). The m
needed is the first grid m whose mean error is ≤ t, interpolated linearly in log m between it
and the grid m before it (whose error is above t): log m* = log m_a + (log m_b − log m_a)·
(e_a − t)/(e_a − e_b). At the first grid m it is that m; never reached: NaN ("not within the
grid"). A head's best map reaches the target at the smallest m (ties, or none reached: the
smallest error at the largest m); its projection is the best of that map's.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from explorer.experiments.report_grid import COUNT_THRESHOLDS, ReportGrid

NOT_WITHIN = "not within the grid"


def error_column(cells: pd.DataFrame) -> str:
    """The error the target is about: the output's, or the weights' without V."""
    return (
        "output_relative_error"
        if cells["output_relative_error"].notna().any()
        else ("weights_relative_error")
    )


def m_needed(ms: np.ndarray, errors: np.ndarray, target: float) -> float:
    """The m at which the mean error first reaches ``target``, on log m (NaN: never)."""
    below = np.nonzero(errors <= target)[0]
    if not len(below):
        return math.nan
    b = int(below[0])
    if b == 0:
        return float(ms[0])
    e_a, e_b = float(errors[b - 1]), float(errors[b])
    if not math.isfinite(e_a):
        return float(ms[b])
    log_a, log_b = math.log(ms[b - 1]), math.log(ms[b])
    return float(math.exp(log_a + (log_b - log_a) * (e_a - target) / (e_a - e_b)))


def curves(cells: pd.DataFrame) -> pd.DataFrame:
    """Mean (and spread) of the error over seeds per (layer, head, map, projection, m)."""
    column = error_column(cells)
    keys = ["layer", "head", "feature_map", "projection", "num_features"]
    grouped = cells.groupby(keys, sort=True)
    out = grouped[column].agg(mean_error="mean", std_error="std").reset_index()
    out["baseline"] = (
        grouped[
            "uniform_baseline_error"
            if column == "output_relative_error"
            else "uniform_weights_error"
        ]
        .first()
        .to_numpy()
    )
    return out


MAP_KEYS = ["layer", "head", "feature_map", "projection"]


def per_map(cells: pd.DataFrame, grid: ReportGrid) -> pd.DataFrame:
    """Per (layer, head, map, projection): target, m needed, error at the largest m."""
    curve = curves(cells)  # sorted by MAP_KEYS, then m ascending
    starts = np.flatnonzero(~curve.duplicated(MAP_KEYS).to_numpy())  # first row of each curve
    stops = np.append(starts[1:], len(curve))
    ms, errors = curve["num_features"].to_numpy(), curve["mean_error"].to_numpy()
    baseline = curve["baseline"].to_numpy()[starts].astype(float)
    if grid.target_error is None:
        target = grid.target_ratio * baseline
    else:
        target = np.full(len(starts), float(grid.target_error))
    out = curve.iloc[starts][MAP_KEYS].reset_index(drop=True)
    out["baseline"], out["target"] = baseline, target
    out["m_needed"] = [
        m_needed(ms[a:b], errors[a:b], t) for a, b, t in zip(starts, stops, target, strict=True)
    ]
    out["error_at_max"] = errors[stops - 1].astype(float)
    return out


def summary_table(
    cells: pd.DataFrame, grid: ReportGrid, maps: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per (layer, head): best map, its projection, m needed, error per map at max m.

    ``maps``: ``per_map``'s table when the caller has it already.
    """
    maps = per_map(cells, grid) if maps is None else maps
    order = maps.sort_values(["layer", "head", "m_needed", "error_at_max"], na_position="last")
    best_of = order.drop_duplicates(["layer", "head", "feature_map"])  # each map's projection
    best = best_of.drop_duplicates(["layer", "head"])  # then the best map
    out = pd.DataFrame(
        {
            "layer": best["layer"].astype(int).to_numpy(),
            "head": best["head"].astype(int).to_numpy(),
            "best_feature_map": best["feature_map"].to_numpy(),
            "best_projection": best["projection"].to_numpy(),
            "m_needed": best["m_needed"].to_numpy(),
            "within_grid": np.isfinite(best["m_needed"].to_numpy(dtype=float)),
            "uniform_baseline_error": best["baseline"].to_numpy(),
            "target_error": best["target"].to_numpy(),
        }
    )
    wide = best_of.pivot(index=["layer", "head"], columns="feature_map")
    index = pd.MultiIndex.from_arrays([out["layer"], out["head"]])
    for name in sorted(best_of["feature_map"].unique()):
        out[f"error_at_max_m_{name}"] = wide["error_at_max", name].reindex(index).to_numpy()
        out[f"m_needed_{name}"] = wide["m_needed", name].reindex(index).to_numpy()
    return out.sort_values(["layer", "head"]).reset_index(drop=True)


def model_counts(
    cells: pd.DataFrame, grid: ReportGrid, maps: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per map: heads (of all) reaching the target at m ≤ each threshold within the grid."""
    maps = per_map(cells, grid) if maps is None else maps
    best = maps.groupby(["layer", "head", "feature_map"])["m_needed"].min().reset_index()
    heads = best[["layer", "head"]].drop_duplicates().shape[0]
    thresholds = [t for t in COUNT_THRESHOLDS if t <= grid.max_features] or [grid.max_features]
    rows = []
    for name in grid.feature_maps:
        needed = best.loc[best["feature_map"] == name, "m_needed"].to_numpy()
        row = {"feature_map": name, "heads": heads}
        for t in thresholds:
            row[f"m_le_{t}"] = int(np.sum(needed <= t))
        rows.append(row)
    return pd.DataFrame(rows)


def recommendation(summary: pd.DataFrame, counts: pd.DataFrame, grid: ReportGrid) -> str:
    """One plain sentence: which map, on how many heads at which m, and where to keep softmax."""
    heads = len(summary)
    column = next(c for c in counts.columns[::-1] if c.startswith("m_le_"))
    limit = int(column.removeprefix("m_le_"))
    top = counts.sort_values(column, ascending=False, kind="stable").iloc[0]
    reached = int(top[column])
    missed = summary[~summary["within_grid"]]
    if reached == 0 and len(missed) == heads:
        return (
            f"No map reaches the target ({grid.target_label()}) on any of the {heads} heads "
            f"within m ≤ {grid.max_features}: keep exact softmax attention in this model."
        )
    layers = sorted({int(i) for i in missed["layer"]})
    keep = (
        f"; no map reaches it within the grid on {len(missed)} head(s) (layers "
        f"{', '.join(map(str, layers))}): keep exact attention there"
        if len(missed)
        else ""
    )
    return (
        f"Use {top['feature_map']}: it reaches the target ({grid.target_label()}) on "
        f"{reached} of {heads} heads at m ≤ {limit}{keep}."
    )
