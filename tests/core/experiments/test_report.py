"""The model report: each cell equals ``compare`` on that head, draws are nested, the exact side
is computed once per unit, checkpoints resume, and the summary's m needed is the interpolation."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from explorer.experiments import report_units
from explorer.experiments.compare import compare
from explorer.experiments.report import model_report
from explorer.experiments.report_grid import ReportGrid
from explorer.experiments.report_summary import m_needed, summary_table
from explorer.inputs.capture import load_sample
from explorer.inputs.synthetic import SyntheticSpec, structured_inputs
from explorer.kernels.projections import PROJECTIONS, draw_projection
from explorer.streams import stream

FIELDS = (
    "output_relative_error",
    "uniform_baseline_error",
    "output_max_abs_error",
    "weights_relative_error",
    "uniform_weights_error",
    "max_abs_error",
    "row_tv_mean",
    "uniform_row_tv_mean",
    "row_kl_mean",
    "uniform_row_kl_mean",
    "kl_undefined_rows",
    "rows_evaluated",
)


def _cell(cells: pd.DataFrame, layer, head, fmap, projection, m, seed) -> pd.Series:
    chosen = cells[
        (cells["layer"] == layer)
        & (cells["head"] == head)
        & (cells["feature_map"] == fmap)
        & (cells["projection"] == projection)
        & (cells["num_features"] == m)
        & (cells["seed"] == seed)
    ]
    assert len(chosen) == 1
    return chosen.iloc[0]


def _assert_equal_to_compare(cells, grid, source, picks, rtol):
    for layer, head, fmap, projection, m, seed in picks:
        config = grid.cell_config(fmap, projection, m, seed)
        reference = compare(config, source.layer(layer).head(head), with_maps=False).metrics
        row = _cell(cells, layer, head, fmap, projection, m, seed)
        for name in FIELDS:
            # float32 cells: batched matmuls round differently from compare's one-head ones;
            # a signed map's near-cancelling normalisers amplify that (hence its looser rtol)
            tol = rtol * (20 if fmap == "trig" else 1)
            np.testing.assert_allclose(row[name], getattr(reference, name), rtol=tol, err_msg=name)


def test_sample_cells_equal_compare():
    sample = load_sample()
    grid = ReportGrid(num_features=(16, 128), seeds=(0, 2), layers=(0, 4))
    report = model_report(sample, grid)
    assert len(report.cells) == 2 * sample.num_heads * grid.cells_per_head
    picks = [
        (0, 0, "positive", "orthogonal", 128, 0),
        (0, 5, "oprf", "orthogonal", 16, 2),
        (4, 11, "hyperbolic", "orthogonal", 128, 2),
        (4, 3, "trig", "orthogonal", 16, 0),
    ]
    _assert_equal_to_compare(report.cells, grid, sample, picks, rtol=1e-5)


def test_learned_map_cells_equal_compare_on_held_out_rows():
    sample = load_sample()
    grid = ReportGrid(feature_maps=("hedgehog",), num_features=(16,), seeds=(1,), layers=(5,))
    cells = model_report(sample, grid).cells
    assert set(cells["rows_evaluated"]) == {31}  # the odd rows of 63
    picks = [(5, 0, "hedgehog", "orthogonal", 16, 1), (5, 7, "hedgehog", "orthogonal", 16, 1)]
    _assert_equal_to_compare(cells, grid, sample, picks, rtol=1e-5)


class _Layers:
    def __init__(self, inputs):
        self.inputs, self.num_layers = inputs, 1

    def layer(self, index):
        return self.inputs


@pytest.mark.parametrize("row_sample", [None, 9])
def test_causal_grouped_windowed_capped_cells_equal_compare(row_sample):
    spec = SyntheticSpec(kind="gaussian", num_heads=4, num_kv_heads=2, seq_len=24, head_dim=8,
                         input_scale=0.6, seed=3)  # fmt: skip
    inputs = replace(structured_inputs(spec), causal=True, window=10, softcap=5.0)
    source = _Layers(inputs)
    grid = ReportGrid(
        feature_maps=("positive", "trig", "oprf", "hedgehog"),
        projections=("iid", "orthogonal"),
        num_features=(8, 32),
        seeds=(0, 1),
        row_sample=row_sample,
        dtype="float64",
        device="cpu",
    )
    cells = model_report(source, grid).cells
    picks = [
        (0, h, f, p, m, s)
        for h in (0, 3)
        for f in grid.feature_maps
        for p in grid.projections
        for m in grid.num_features
        for s in grid.seeds
    ]
    _assert_equal_to_compare(cells, grid, source, picks, rtol=1e-9)  # float64: rounding only
    fitted = cells["feature_map"] == "hedgehog"
    if row_sample:
        assert set(cells.loc[~fitted, "rows_evaluated"]) == {row_sample}
    # the learned map's cells cover its held-out odd rows (of the sample: those that are odd)
    assert (cells.loc[fitted, "rows_evaluated"] < (row_sample or 24) * 0.75).all()
    if not row_sample:
        assert set(cells.loc[fitted, "rows_evaluated"]) == {12}


@pytest.mark.parametrize("projection", list(PROJECTIONS))
def test_draws_are_nested(projection):
    # the report slices one draw of the largest m: that must be the draw of each smaller m
    big = draw_projection(projection, 200, 16, stream=stream("features", 5))
    for m in (1, 16, 17, 100):
        small = draw_projection(projection, m, 16, stream=stream("features", 5))
        assert np.array_equal(big[:m].numpy(), small.numpy())


def test_exact_side_once_per_unit_and_resume(tmp_path, monkeypatch):
    calls = []
    original = report_units.exact_heads
    monkeypatch.setattr(
        report_units, "exact_heads", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    sample = load_sample()
    grid = ReportGrid(feature_maps=("positive", "oprf"), num_features=(16, 32), seeds=(0,),
                      layers=(1, 2))  # fmt: skip
    first = model_report(sample, grid, out_dir=tmp_path)
    assert len(calls) == 2  # one unit a layer here: one exact pass for all of its cells
    again = model_report(sample, grid, out_dir=tmp_path)
    assert again.resumed_layers == (1, 2) and len(calls) == 2
    pd.testing.assert_frame_equal(first.cells, again.cells, check_dtype=False, rtol=1e-12)
    (next(tmp_path.glob("checkpoints/layer_2_*.csv"))).unlink()  # a run killed in layer 2
    resumed = model_report(sample, grid, out_dir=tmp_path)
    assert resumed.resumed_layers == (1,) and len(calls) == 3
    model_report(sample, replace(grid, seeds=(1,)), out_dir=tmp_path)  # new grid: no reuse
    assert len(calls) == 5


def test_m_needed_interpolates_on_log_m():
    ms = np.array([16, 32, 64])
    # error 0.8 at 32, 0.4 at 64, target 0.6: halfway on log m between 32 and 64
    assert m_needed(ms, np.array([1.0, 0.8, 0.4]), 0.6) == pytest.approx(32 * math.sqrt(2))
    assert m_needed(ms, np.array([0.5, 0.4, 0.3]), 0.6) == 16
    assert math.isnan(m_needed(ms, np.array([1.0, 0.9, 0.8]), 0.6))


def test_summary_best_map_and_target():
    rows = []
    for fmap, errors in (("a", [0.9, 0.5, 0.2]), ("b", [0.9, 0.8, 0.45])):
        for m, e in zip((16, 32, 64), errors, strict=True):
            for seed, noise in ((0, -0.01), (1, 0.01)):  # mean over seeds is e
                key = {"layer": 0, "head": 0, "feature_map": fmap, "projection": "iid"}
                rows.append(
                    key
                    | {"num_features": m, "seed": seed, "output_relative_error": e + noise}
                    | {"uniform_baseline_error": 1.0, "uniform_weights_error": 1.0}
                )
    cells = pd.DataFrame(rows)
    grid = ReportGrid(feature_maps=("positive",), num_features=(16, 32, 64))
    summary = summary_table(cells, grid).iloc[0]
    assert summary["best_feature_map"] == "a"
    expected = m_needed(np.array([16, 32, 64]), np.array([0.9, 0.5, 0.2]), 0.5)
    assert summary["m_needed"] == pytest.approx(expected)
    assert summary["m_needed_b"] == pytest.approx(64 * 2 ** (-(0.05 / 0.35)))
    assert summary["error_at_max_m_b"] == pytest.approx(0.45)
    absolute = summary_table(cells, replace(grid, target_error=0.1)).iloc[0]
    assert not absolute["within_grid"] and math.isnan(absolute["m_needed"])
