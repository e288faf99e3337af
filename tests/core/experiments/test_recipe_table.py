"""recipe_table: the recipes side by side, each number from compare on the same inputs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from explorer.charts.recipes import recipe_bars
from explorer.experiments.compare import ExperimentConfig, compare, synthetic_inputs
from explorer.experiments.recipes import RECIPE_HEADERS, recipe_table

SMALL = ExperimentConfig(
    seq_len=32, head_dim=8, num_features=16, num_heads=2, dtype="float64", device="cpu"
)


def test_each_row_is_the_recipes_compare_over_the_seeds():
    table = recipe_table(SMALL, seeds=range(3))
    assert {"explorer", "google", "performer_pytorch", "fast_transformers"} <= set(table.recipe)
    assert set(RECIPE_HEADERS) <= set(table.columns) | {"label"}
    for name in ("explorer", "performer_pytorch"):
        row = table[table.recipe == name].iloc[0]
        errors = [
            compare(replace(SMALL, recipe=name, seed=s), with_maps=False).metrics for s in range(3)
        ]
        mean = np.mean([e.output_relative_error for e in errors])
        assert row.output_error_mean == pytest.approx(mean, rel=1e-12)
        assert row.uniform_baseline_error == pytest.approx(errors[0].uniform_baseline_error)
        assert row.distinct_w == 3 and row.rows == 2 * 32
    google = table[table.recipe == "google"].iloc[0]
    assert google.distinct_w == 1 and google.output_error_std == 0.0  # the seed moves nothing


def test_distance_to_uniform_is_zero_for_the_uniform_output_and_baseline_for_the_exact():
    data = synthetic_inputs(SMALL)
    row = recipe_table(SMALL, seeds=range(2), recipes=("explorer",)).iloc[0]
    # Ŷ = Y would give the baseline; the approximation lies between its error and that.
    exact = compare(SMALL, with_maps=False).exact_output
    uniform = np.broadcast_to(data.v.mean(-2, keepdims=True), exact.shape)
    baseline = np.linalg.norm(uniform - exact) / np.linalg.norm(exact)
    assert row.uniform_baseline_error == pytest.approx(baseline, rel=1e-10)
    assert abs(row.distance_to_uniform - baseline) <= row.output_error_mean + 1e-12  # triangle


def test_the_chart_draws_every_recipe():
    table = recipe_table(SMALL, seeds=range(2))
    fig = recipe_bars(table)
    assert list(fig.data[0].x) == list(table.recipe)
    np.testing.assert_allclose(fig.data[1].y, table.distance_to_uniform, rtol=1e-6)


def test_the_unfixed_qr_shows_in_w_itself():
    config = replace(SMALL, num_features=64)  # 8 blocks of d = 8 rows per seed
    table = recipe_table(config, seeds=range(4), recipes=("explorer", "performer_pytorch"))
    fixed, plain = (table[table.recipe == n].iloc[0] for n in ("explorer", "performer_pytorch"))
    # Plain Householder QR: the first row's first entry is negative in every block (so the
    # mean is < 0 by construction, ≈ −E|u₁| ≈ −0.28 at d = 8); with the fix u₁ is symmetric,
    # sd 1/√8 ≈ 0.35, so the mean of 32 stays within ±0.5 (8 standard errors of 0.0625).
    assert plain.qr_first_entry_mean < -0.1
    assert abs(fixed.qr_first_entry_mean) < 0.5
