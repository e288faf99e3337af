"""Structure or norms? The error on real inputs beside a control with the same row norms.

The variance of positive features grows like e^{|x+y|²} (Performer Lemma 2), and |x+y|² =
|x|² + |y|² + 2x·y: row norms and how queries align with keys. ``matched_inputs`` keeps every
|q_i| and |k_j| and draws the directions at random, so comparing the same settings on both
shows how much of the error the norms alone explain and how much the directions add (or save).
"""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd

from explorer.experiment import Comparison

ControlVerdict = Literal["norms", "directions_harder", "directions_easier", "undefined"]
SAME_WITHIN = 0.2  # relative difference under which the two errors count as the same

# (label, field of ErrorMetrics, field of its uniform baseline)
CONTROL_ROWS = (
    ("output error ‖Ŷ − Y‖/‖Y‖", "output_relative_error", "uniform_baseline_error"),
    ("attention-matrix error ‖P̂ − P‖/‖P‖", "weights_relative_error", "uniform_weights_error"),
    ("mean row total variation", "row_tv_mean", "uniform_row_tv_mean"),
    ("mean row KL(P ‖ P̂)", "row_kl_mean", "uniform_row_kl_mean"),
)


def control_table(real: Comparison, control: Comparison) -> pd.DataFrame:
    """One row per metric: the real inputs, the norms-matched control, and both baselines."""
    rows = []
    for label, name, baseline in CONTROL_ROWS:
        rows.append(
            {
                "metric": label,
                "your data": getattr(real.metrics, name),
                "norms-matched control": getattr(control.metrics, name),
                "uniform baseline (your data)": getattr(real.metrics, baseline),
            }
        )
    rows.append(
        {
            "metric": "mean |x + y|² (predicts the variance)",
            "your data": float(real.statistics.mean_pair_sq_sum.mean()),
            "norms-matched control": float(control.statistics.mean_pair_sq_sum.mean()),
            "uniform baseline (your data)": None,
        }
    )
    return pd.DataFrame(rows)


def verdict(real: Comparison, control: Comparison) -> ControlVerdict:
    """Which explains the error: the output error (weights without V) of both, compared."""
    name = "output_relative_error"
    if real.metrics.output_relative_error is None or control.metrics.output_relative_error is None:
        name = "weights_relative_error"
    ours, theirs = getattr(real.metrics, name), getattr(control.metrics, name)
    if not (math.isfinite(ours) and math.isfinite(theirs)) or max(ours, theirs) == 0:
        return "undefined"
    if abs(ours - theirs) <= SAME_WITHIN * max(ours, theirs):
        return "norms"
    return "directions_harder" if ours > theirs else "directions_easier"
