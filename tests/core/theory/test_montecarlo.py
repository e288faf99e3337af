"""The Monte Carlo tables behind the Theory page: each against its closed form."""

from __future__ import annotations

import numpy as np

from explorer.theory.montecarlo import kernel_estimates, pair_from_norms, regularized_ratio_curve


def test_pairs_have_the_asked_norms():
    x, y = pair_from_norms(1.3, 0.4, 8)
    assert abs(float((x + y).norm()) - 1.3) < 1e-15 and abs(float((x - y).norm()) - 0.4) < 1e-15


def test_draws_are_independent_and_reproducible():
    x, y = pair_from_norms(1.0, 0.5, 8)
    a = kernel_estimates("positive", x, y, num_features=8, draws=50, seed=1)
    b = kernel_estimates("positive", x, y, num_features=8, draws=50, seed=1)
    c = kernel_estimates("positive", x, y, num_features=8, draws=50, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and len(set(a.tolist())) == 50


def test_regularized_curve_matches_its_closed_form_and_gaussian_rows_are_unbiased():
    # 4000 draws per point: the means sit within 5 standard errors of SMREG/SM (fixed_norm)
    # and of 1 (chi norms), a false alarm chance of ~1e-6 per point. SMREG/SM is exactly 1 at
    # |x + y| = 0 (every estimate is then exp(x·y) itself) and falls to ≈ 0.55 at 2.5 for d = 8.
    table = regularized_ratio_curve((0.0, 1.0, 2.5), head_dim=8, num_features=8, draws=4000, seed=3)
    assert np.all(np.abs(table.mc - table.theory) < 5 * table.mc_se + 1e-12)
    assert np.all(np.abs(table.gaussian_mc - 1.0) < 5 * table.gaussian_se + 1e-12)
    assert table.theory.iloc[0] == 1.0 and np.all(np.diff(table.theory) < 0)
