"""Sweeps: compare over a grid, one tidy row per run, equal to compare cell by cell."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.experiments.compare import ExperimentConfig
from explorer.experiments.sweep import METRIC_COLUMNS, sweep
from explorer.inputs.attention_inputs import AttentionInputs

SMALL = ExperimentConfig(
    seq_len=48, head_dim=8, num_features=16, num_heads=2, dtype="float64", device="cpu"
)


def test_sweep_is_a_tidy_table_with_progress():
    calls = []
    table = sweep(
        SMALL,
        {"feature_map": ["positive", "trig"], "num_features": [8, 16]},
        seeds=range(2),
        progress=lambda done, total, cfg: calls.append((done, total)),
    )
    assert len(table) == 8 and calls[-1] == (8, 8) and len(calls) == 8
    for column in (
        "feature_map",
        "projection",
        "num_features",
        "input_scale",
        "seq_len",
        "head_dim",
        "seed",
        *METRIC_COLUMNS,
    ):
        assert column in table.columns
    assert set(table.seed) == {0, 1}
    with pytest.raises(ValueError, match="cannot sweep"):
        sweep(SMALL, {"temperature": [1.0]})


def test_temperature_sweep_on_given_inputs():
    # softmax_scale changes no data, so it can be swept on uploads: a larger scale sharpens
    # attention (the uniform baseline moves away from exact) and makes features harder.
    g = np.random.default_rng(1)
    inputs = AttentionInputs(
        g.normal(size=(1, 32, 8)), g.normal(size=(1, 32, 8)), g.normal(size=(1, 32, 4))
    )
    table = sweep(SMALL, {"softmax_scale": [0.05, 0.35, 1.0]}, inputs=inputs)
    baseline = table.set_index("softmax_scale").uniform_baseline_error
    assert baseline[0.05] < baseline[0.35] < baseline[1.0]
