"""Structure or norms? The error on real inputs beside a control with the same row norms.

The variance of positive features grows like e^{|x+y|²} (Performer Lemma 2), and |x+y|² =
|x|² + |y|² + 2x·y: row norms and how queries align with keys. ``matched_inputs`` keeps every
|q_i| and |k_j| and draws the directions at random. Both sides are repeated over ``draws``
seeds (draw j: features from seed j; the control also draws its directions from seed j), since
one draw of either varies by 10–20% at a few hundred tokens. The verdict compares the mean
errors with Welch's standard error: within two of them the norms explain the error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
import pandas as pd

from explorer.experiments.compare import Comparison, ExperimentConfig, compare
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.inputs.synthetic import matched_inputs

ControlVerdict = Literal["norms", "directions_harder", "directions_easier", "undefined"]
CONTROL_DRAWS = 5  # seeds per side: enough for a standard error, cheap on real captures
SAME_WITHIN_SE = 2.0  # |difference of means| within this many standard errors: "the same"

# (label, field of ErrorMetrics, field of its uniform baseline)
CONTROL_ROWS = (
    ("output error ‖Ŷ − Y‖/‖Y‖", "output_relative_error", "uniform_baseline_error"),
    ("attention-matrix error ‖P̂ − P‖/‖P‖", "weights_relative_error", "uniform_weights_error"),
    ("mean row total variation", "row_tv_mean", "uniform_row_tv_mean"),
    ("mean row KL(P ‖ P̂)", "row_kl_mean", "uniform_row_kl_mean"),
)


def control_runs(
    config: ExperimentConfig, inputs: AttentionInputs, *, draws: int = CONTROL_DRAWS
) -> tuple[list[Comparison], list[Comparison]]:
    """(real, control) comparisons, draw j with features seed config.seed + j.

    Their outputs are dropped (set to None): only metrics and statistics are kept, so holding
    2·draws results costs little more than one comparison.
    """
    if draws < 2:
        raise ValueError(f"draws must be at least 2 (a spread needs two), got {draws}")

    def run(seeded: ExperimentConfig, data: AttentionInputs) -> Comparison:
        result = compare(seeded, data, with_maps=False)
        return replace(result, exact_output=None, approx_output=None)

    real, control = [], []
    for j in range(draws):
        seeded = replace(config, seed=config.seed + j)
        real.append(run(seeded, inputs))
        control.append(run(seeded, matched_inputs(inputs, seed=config.data_seed + j)))
    return real, control


def _values(runs: Sequence[Comparison], name: str) -> np.ndarray:
    if name == "mean_pair_sq_sum":
        return np.array([float(r.statistics.mean_pair_sq_sum.mean()) for r in runs])
    values = [getattr(r.metrics, name) for r in runs]
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def control_table(real: Sequence[Comparison], control: Sequence[Comparison]) -> pd.DataFrame:
    """One row per metric: means over the draws of both sides, their spreads, the baseline."""
    rows = [*CONTROL_ROWS, ("mean |x + y|² (predicts the variance)", "mean_pair_sq_sum", None)]
    table = []
    for label, name, baseline in rows:
        ours, theirs = _values(real, name), _values(control, name)
        table.append(
            {
                "metric": label,
                "your data": ours.mean(),
                "your data, SD": ours.std(ddof=1),
                "norms-matched control": theirs.mean(),
                "control, SD": theirs.std(ddof=1),
                "uniform baseline": None if baseline is None else _values(real, baseline).mean(),
            }
        )
    return pd.DataFrame(table)


def verdict(real: Sequence[Comparison], control: Sequence[Comparison]) -> ControlVerdict:
    """Which explains the output error (weights error without V): Welch's two-sided check."""
    name = "output_relative_error"
    if any(r.metrics.output_relative_error is None for r in (*real, *control)):
        name = "weights_relative_error"
    ours, theirs = _values(real, name), _values(control, name)
    if len(ours) < 2 or len(theirs) < 2 or not np.isfinite([*ours, *theirs]).all():
        return "undefined"
    gap = ours.mean() - theirs.mean()
    se = math.sqrt(ours.var(ddof=1) / len(ours) + theirs.var(ddof=1) / len(theirs))
    if abs(gap) <= SAME_WITHIN_SE * se:
        return "norms"
    return "directions_harder" if gap > 0 else "directions_easier"


def control_summary(real: Sequence[Comparison], control: Sequence[Comparison]) -> dict:
    """The table's means and spreads, flat, and the verdict, for ``compare --control``."""
    out: dict[str, object] = {"draws": len(real)}
    for (_, name, _), row in zip(
        (*CONTROL_ROWS, ("", "mean_pair_sq_sum", None)),
        control_table(real, control).itertuples(index=False),
        strict=True,
    ):
        out[f"{name}_mean"] = float(row[1])
        out[f"{name}_control_mean"] = float(row[3])
        out[f"{name}_control_sd"] = float(row[4])
    out["verdict"] = verdict(real, control)
    return out
