"""Scaling charts: error vs m and vs σ with baselines, theory where valid, Fig. 4's labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.charts.scaling import error_vs_m, error_vs_scale, map_colour, paper_fig4


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


def _by_name(fig) -> dict:
    return {trace.name: trace for trace in fig.data}


def test_error_vs_m_has_curves_reference_baseline_and_valid_theory_only():
    summary = _summary("num_features", [4, 16, 64], [("positive", "iid"), ("trig", "orthogonal")])
    prediction = pd.DataFrame(
        {"num_features": [4, 16, 64], "predicted": [1.0, 0.5, 0.25], "valid": [False, True, True]}
    )
    fig = error_vs_m(summary, metric_label="output relative error", prediction=prediction)
    traces = _by_name(fig)
    np.testing.assert_allclose(traces["trig, orthogonal"].y, 2 / np.sqrt([4, 16, 64]), rtol=1e-6)
    np.testing.assert_allclose(traces["trig, orthogonal"].error_y.array, 0.2 / np.sqrt([4, 16, 64]),
                               rtol=1e-6)  # fmt: skip
    reference = traces["∝ m^(-1/2)"].y
    assert reference[0] / reference[-1] == pytest.approx(4.0)  # m × 16 → error ÷ 4
    np.testing.assert_array_equal(traces["delta method (positive, iid)"].x, [16, 64])
    assert traces["uniform attention"].y[0] == pytest.approx(0.6)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert traces["positive, iid"].line.color == map_colour("positive")


def test_error_vs_scale_has_both_axes_and_breakdown_marks():
    summary = _summary("input_scale", [0.1, 0.5, 1.0], [("positive", "iid"), ("oprf", "iid")])
    fig = error_vs_scale(
        summary, x="input_scale", x_title="input scale σ", metric_label="err",
        breakdowns={"positive": 0.5, "oprf": None},
    )  # fmt: skip
    positive = [t for t in fig.data if t.name == "positive"]
    np.testing.assert_allclose(positive[0].x, [0.1, 0.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(positive[1].x, [0.2, 1.0, 2.0], rtol=1e-6)  # mean |x+y|²
    baselines = [t for t in fig.data if t.name == "uniform attention"]
    assert len(baselines) == 2
    np.testing.assert_allclose(baselines[0].y, [0.5, 0.6, 0.7], rtol=1e-6)
    assert [shape.x0 for shape in fig.layout.shapes] == [0.5]
    assert fig.layout.yaxis.type == fig.layout.yaxis2.type == "log"


def test_paper_fig4_labels_like_the_paper():
    curves = [("positive", "orthogonal"), ("positive", "iid"), ("trig", "orthogonal"),
              ("trig", "iid")]  # fmt: skip
    fig = paper_fig4(_summary("num_features", [4, 16], curves), title="Fig. 4")
    assert [t.name for t in fig.data] == [
        "ORF POS", "IID POS", "ORF TRIG", "IID TRIG", "uniform attention"
    ]  # fmt: skip
