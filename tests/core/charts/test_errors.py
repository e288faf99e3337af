"""Error charts: histograms, ECDF and the spread over redraws, with baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.charts.errors import ecdf, error_histogram, norm_histograms, seed_spread
from explorer.charts.heatmaps import head_grid, query_distribution
from explorer.reference.display_maps import AttentionMaps


def maps(negative: bool = False, pool=(1, 1)) -> AttentionMaps:
    rng = np.random.default_rng(0)
    exact = rng.dirichlet(np.ones(5), size=(2, 4))  # (h, l, s) rows sum to 1
    approx = exact + (0.1 * rng.normal(size=exact.shape) if negative else 0.01)
    negative = int((approx < 0).sum())
    return AttentionMaps(exact=exact, approx=approx, pool=pool, negative_entries=negative)


def test_grid_query_and_error_charts():
    m = maps()
    grid = head_grid([m.exact, m.approx], row_names=["layer 0", "layer 1"], kind="exact")
    assert len(grid.data) == 4
    q = query_distribution(m.exact[0, 2], m.approx[0, 2], key_tokens=list("vwxyz"))
    np.testing.assert_allclose(q.data[0].y, m.exact[0, 2].astype(np.float32))
    hist = error_histogram(np.array([0.1, np.inf, 0.3]), title="t", x_title="x", baseline=0.2)
    assert len(hist.data[0].x) == 2 and "1 rows undefined" in hist.layout.title.text
    cdf = ecdf(np.array([-0.2, 0.1, 0.0, 0.4]), title="t", x_title="x")
    np.testing.assert_allclose(cdf.data[0].x, [0.1, 0.2, 0.4])
    np.testing.assert_allclose(cdf.data[0].y, [1 / 3, 2 / 3, 1])
    norms = norm_histograms(np.ones((1, 3)), np.arange(4.0))
    assert len(norms.data) == 2


def test_seed_spread_draws_baseline_and_theory():
    table = pd.DataFrame(
        {
            "feature_map": ["positive"] * 3 + ["trig"] * 3,
            "output_relative_error": [0.1, 0.2, 0.15, 0.3, 0.25, 0.35],
            "uniform_baseline_error": [0.5] * 6,
        }
    )
    fig = seed_spread(table, predicted={"positive": 0.14})
    assert [t.name for t in fig.data[:2]] == ["positive", "trig"]
    assert fig.layout.shapes[0].y0 == 0.5  # the uniform baseline
    assert fig.data[2].y[0] == 0.14
