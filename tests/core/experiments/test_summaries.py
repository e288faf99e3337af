"""Summaries behind the scaling charts: means over seeds, breakdowns, the delta-method curve."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from explorer.experiments.compare import ExperimentConfig
from explorer.experiments.predict import predict_output_error
from explorer.experiments.summaries import (
    breakdown,
    delta_method_curve,
    error_metric,
    error_ratio,
    seed_summary,
    smallest_valid_m,
    softmax_scales,
    with_temperature,
)


def _runs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feature_map": ["a", "a", "a", "a", "b", "b", "b", "b"],
            "num_features": [4, 4, 16, 16, 4, 4, 16, 16],
            "output_relative_error": [1.0, 3.0, 0.5, 0.5, 0.1, 0.3, 0.2, 0.2],
            "uniform_baseline_error": [0.4] * 8,
            "mean_pair_sq_sum": [2.0] * 8,
        }
    )


def test_seed_summary_and_breakdown():
    summary = seed_summary(_runs(), x="num_features", by=("feature_map",))
    first = summary.iloc[0]
    assert (first["mean"], first.low, first.high, first.runs) == (2.0, 1.0, 3.0, 2)
    assert first["std"] == pytest.approx(math.sqrt(2.0))
    assert summary.iloc[1]["std"] == 0.0 and (summary["baseline"] == 0.4).all()
    # Along x, "a" stays above the baseline from x = 4 on; "b" ends below it.
    assert breakdown(summary, x="num_features") == {"a": 4.0, "b": None}
    np.testing.assert_allclose(
        error_ratio(summary, x="num_features", numerator="b", denominator="a"), [0.1, 0.4]
    )
    with pytest.raises(ValueError, match="no curve"):
        error_ratio(summary, x="num_features", numerator="oprf", denominator="a")
    assert error_metric(_runs()) == "output_relative_error"
    no_v = _runs().assign(output_relative_error=None)
    assert error_metric(no_v) == "weights_relative_error"
    with pytest.raises(ValueError, match="no column"):
        seed_summary(_runs(), x="input_scale", by=("feature_map",))


def test_delta_method_curve_scales_like_a_direct_evaluation():
    config = ExperimentConfig(seq_len=24, head_dim=8, input_scale=0.3, num_features=16)
    curve = delta_method_curve(predict_output_error(config), reference_m=16, ms=[4, 64])
    for m, predicted, valid in zip(
        curve.num_features, curve.predicted, curve["valid"], strict=True
    ):
        direct = predict_output_error(replace(config, num_features=int(m)))
        assert predicted == pytest.approx(direct.predicted_relative_error, rel=1e-9)
        assert valid == direct.valid
    assert smallest_valid_m(curve) in (4, 64, None)


def test_temperature_axis():
    scales = softmax_scales(16, [0.5, 2.0])
    assert scales == [0.125, 0.5]
    table = with_temperature(pd.DataFrame({"softmax_scale": scales}), 16)
    np.testing.assert_allclose(table["temperature"], [0.5, 2.0])
