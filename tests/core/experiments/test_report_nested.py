"""The nested cells (φ once at the largest m, cumulative K) equal the per-m cells, including rows
whose m-maximum sits far under M's (rebuilt in m's own units) and causal rows that underflow."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from explorer.experiments import report_columns, report_nested
from explorer.experiments.report_cells import map_cells
from explorer.experiments.report_exact import exact_heads, head_tensors, seed_rows, union_rows
from explorer.experiments.report_grid import ReportGrid
from explorer.experiments.report_units import _draw
from explorer.inputs.synthetic import SyntheticSpec, structured_inputs
from explorer.kernels.feature_maps import get_feature_map

FIELDS = ("output_relative_error", "output_max_abs_error", "weights_relative_error",
          "max_abs_error", "row_tv_mean", "row_kl_mean", "kl_undefined_rows")  # fmt: skip


def _cells(fn, name, grid, inputs):
    tensors = head_tensors(inputs, grid)  # float32, scaled as compare scales them
    x, y, v, softmax = tensors.x, tensors.y, tensors.v, tensors.softmax
    rows = seed_rows(grid, x.shape[-2])
    exact = exact_heads(x, y, v, softmax, union_rows(rows), memory_budget=2**26)
    draws = [_draw("iid", grid.max_features, x.shape[-1], s).to(x.dtype) for s in grid.seeds]
    cells = fn(get_feature_map(name), x, y, v, exact, draws, rows, grid.num_features,
               softmax, memory_budget=2**26, chunk_size=16)  # fmt: skip
    records = pd.DataFrame(cells).to_dict("records")
    return {(r["num_features"], r["seed"], r["head"]): r for r in records}


CASES = [("positive", 6.0), ("positive", 14.0), ("hyperbolic", 14.0), ("oprf", 6.0),
         ("trig", 1.0)]  # fmt: skip


@pytest.mark.parametrize("name, scale", CASES)
@pytest.mark.parametrize("row_sample", [None, 20])
@pytest.mark.parametrize("causal", [False, True])
def test_nested_cells_equal_per_m_cells_at_large_norms(name, scale, row_sample, causal,
                                                       monkeypatch):  # fmt: skip
    # float32, d 8 and norms so large that m = 1's row maximum sits tens of nats under that of
    # all 64 rows: in M's units entries compare keeps would underflow (KL turns infinite where
    # compare's is finite), so rows are rescaled into m's units, and rows whose m-columns
    # underflowed in M's units are rebuilt from their exponents (scale 14 needs that). Trig
    # has no row stabiliser; at such norms its own cancellations are noise, hence 1.
    spec = SyntheticSpec(kind="gaussian", num_heads=3, seq_len=40, head_dim=8, input_scale=scale,
                         seed=4)  # fmt: skip
    inputs = replace(structured_inputs(spec), causal=causal)
    grid = ReportGrid(feature_maps=(name,), projections=("iid",), num_features=(1, 8, 64),
                      seeds=(0, 1), row_sample=row_sample)  # fmt: skip
    rebuilt = []
    original = report_nested._rebuild
    monkeypatch.setattr(
        report_nested, "_rebuild", lambda *a, **k: rebuilt.append(1) or original(*a, **k)
    )
    nested = _cells(report_nested.nested_map_cells, name, grid, inputs)
    per_m = _cells(map_cells, name, grid, inputs)
    assert nested.keys() == per_m.keys()
    for key, ref in per_m.items():
        for field in FIELDS:  # float32 rounding; a signed map's cancellations amplify it
            tol = 2e-4 if name == "trig" else 2e-5
            assert nested[key][field] == pytest.approx(ref[field], rel=tol, abs=1e-6), (key, field)
    if name != "trig":  # exponential maps: some rows were far enough under M's maximum
        assert rebuilt


@pytest.mark.parametrize("name", ["hyperbolic", "trig", "positive"])
def test_prefix_order_makes_every_m_a_prefix_with_the_same_kernel(name):
    # φ of W[:m] is the first m' columns after ``prefix_order``: their kernel φφᵀ equals the
    # m-feature map's own up to the factors that cancel in P̂ (float64, so to rounding)
    import torch

    from explorer.kernels.projections import draw_projection
    from explorer.streams import stream

    fmap = get_feature_map(name)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 6, 4, generator=g, dtype=torch.float64) * 0.5
    y = torch.randn(2, 5, 4, generator=g, dtype=torch.float64) * 0.5
    w = draw_projection("orthogonal", 16, 4, stream=stream("features", 3))
    ms = [1, 4, 10]
    blocks = report_columns.prefix_order(fmap, ms, 16)
    assert (blocks is None) == (fmap.features_per_vector == 1)
    whole = report_columns.reordered(fmap(x, y, w), blocks)
    for m in ms:
        width = fmap.feature_dim(m, 4)
        mine = whole.query[..., :width] @ whole.key[..., :width].transpose(-2, -1)
        own = fmap(x, y, w[:m])
        ref = own.query @ own.key.transpose(-2, -1)
        # P̂ = K/D: row-normalised kernels are equal (the stabiliser's factors cancel)
        mine, ref = mine / mine.sum(-1, keepdim=True), ref / ref.sum(-1, keepdim=True)
        torch.testing.assert_close(mine, ref, rtol=1e-9, atol=1e-12)
