"""Scaling and theory figure builders: the right traces, axes and numbers reach the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.charts.scaling import delta_method_chart
from explorer.charts.theory import (
    LOG10_RATIO_CLIP,
    orthogonal_gain_chart,
    ratio_map_chart,
    relative_mse_chart,
)


def _summary(x: str, xs, curves) -> pd.DataFrame:
    rows = []
    for i, (name, projection) in enumerate(curves):
        for j, value in enumerate(xs):
            mean = (i + 1) / np.sqrt(value)
            rows.append(
                {"feature_map": name, "projection": projection, x: value, "mean": mean,
                 "std": 0.1 * mean, "low": 0.8 * mean, "high": 1.2 * mean, "runs": 3,
                 "baseline": 0.5 + 0.1 * j, "mean_pair_sq_sum": 2.0 * value}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_relative_mse_chart_puts_theory_and_monte_carlo_in_two_panels():
    def table(vary):
        values = [0.5, 1.0]
        return pd.DataFrame(
            {"feature_map": ["positive", "trig"] * 2,
             "sum_norm": np.repeat(values, 2) if vary == "sum" else 1.0,
             "diff_norm": np.repeat(values, 2) if vary == "diff" else 1.0,
             "theory": [0.1, 0.2, 0.3, 0.4], "mc": [0.11, 0.19, 0.31, 0.41],
             "mc_se": [0.01] * 4}
        )  # fmt: skip

    fig = relative_mse_chart(table("sum"), table("diff"), title="t")
    assert len(fig.data) == 8  # 2 maps × (theory, Monte Carlo) × 2 panels
    mc = [t for t in fig.data if t.name == "trig: Monte Carlo"]
    np.testing.assert_allclose(mc[0].error_y.array, [0.02, 0.02])  # ± 2 SE
    assert fig.layout.yaxis.type == fig.layout.yaxis2.type == "log"


def test_ratio_map_is_log_coloured_and_clipped():
    angles, lengths = np.linspace(-3, 3, 5), np.array([0.5, 1.0])
    ratio = np.array([[1e-9, 0.1, 1.0, 10.0, 1e9]] * 2)
    curve = pd.DataFrame({"angle": angles, "theory": ratio[1]})
    mc = pd.DataFrame({"angle": [0.0], "mc": [1.1]})
    fig = ratio_map_chart(angles, lengths, ratio, slice_length=1.0, slice_curve=curve, slice_mc=mc)
    z = np.asarray(fig.data[0].z)
    np.testing.assert_allclose(z[0], [-LOG10_RATIO_CLIP, -1, 0, 1, LOG10_RATIO_CLIP], atol=1e-6)
    assert [t.name for t in fig.data[1:]] == ["r: closed form", "r: Monte Carlo"]


def test_orthogonal_and_delta_method_charts():
    gain = pd.DataFrame(
        {"num_features": [1, 8], "iid_theory": [1.0, 0.125], "orthogonal_bound": [1.0, 0.1],
         "iid_mc": [0.9, 0.12], "iid_se": [0.1, 0.01], "orthogonal_mc": [1.0, 0.08],
         "orthogonal_se": [0.1, 0.01]}
    )  # fmt: skip
    fig = orthogonal_gain_chart(gain, title="t")
    assert len(fig.data) == 8  # (2 lines + 2 Monte Carlo) × (MSE, ratio to iid)
    np.testing.assert_allclose(fig.data[3].y, [1.0, 0.8], rtol=1e-6)  # bound / iid
    measured = _summary("num_features", [4, 64], [("positive", "iid")])
    curve = pd.DataFrame(
        {"num_features": [4, 64], "predicted": [1.0, 0.25], "valid": [False, True]}
    )
    fig = delta_method_chart(measured, curve, metric_label="err", title="<b>upload.npy</b>")
    names = [t.name for t in fig.data]
    assert "delta method (valid)" in names and "delta method (outside validity)" in names
    assert "<b>" not in fig.layout.title.text  # names from uploads are escaped
