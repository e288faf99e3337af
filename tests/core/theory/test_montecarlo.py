"""The Monte Carlo tables behind the Theory page: each against its closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explorer.theory.closed_forms import relative_mse, trig_positive_ratio
from explorer.theory.montecarlo import (
    kernel_estimates,
    orthogonal_gain,
    pair_from_angle,
    pair_from_norms,
    ratio_slice,
    relative_mse_curves,
    relative_mse_mc,
)
from explorer.theory.montecarlo_curves import regularized_ratio_curve


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


def test_pairs_have_the_requested_geometry():
    x, y = pair_from_norms(1.3, 0.4, 8)
    assert float((x + y).norm()) == pytest.approx(1.3) and float((x - y).norm()) == pytest.approx(
        0.4
    )
    x, y = pair_from_angle(0.9, 2.0, 4)
    assert float(x.norm()) == pytest.approx(0.9) == float(y.norm())
    assert float(x @ y) == pytest.approx(0.81 * math.cos(2.0))
    with pytest.raises(ValueError, match="head_dim"):
        pair_from_norms(1.0, 1.0, 1)


@pytest.mark.parametrize("name", ["trig", "positive", "hyperbolic", "oprf"])
@pytest.mark.parametrize("projection", ["iid", "orthogonal"])
def test_estimates_are_unbiased_with_the_lemma_2_mse(name, projection):
    # |x+y| = 0.8, |x−y| = 0.7: per-vector relative variance ≤ 0.9, so the squared errors are
    # light-tailed and 5 standard errors is a fair test. m = 12 > d = 8 checks that every draw
    # gets its own whole orthogonal blocks (truncated to m rows).
    x, y = pair_from_norms(0.8, 0.7, 8)
    sm = math.exp(float(x @ y))
    est = kernel_estimates(name, x, y, num_features=12, draws=3000, projection=projection, seed=4)
    assert est.shape == (3000,)
    assert abs(est.mean() - sm) < 5 * est.std() / math.sqrt(est.size)
    if projection == "iid":  # the closed form is for iid rows; orthogonal ones do better
        mc, se = relative_mse_mc(name, x, y, num_features=12, draws=3000, seed=4)
        theory = relative_mse(name, sq_sum=0.64, sq_diff=0.49, num_features=12, head_dim=8)
        assert abs(mc - float(theory)) < 5 * se


def test_estimator_requests_are_checked():
    x, y = pair_from_norms(1.0, 1.0, 4)
    with pytest.raises(ValueError, match="substitute"):
        kernel_estimates("relu", x, y, num_features=4, draws=10)
    with pytest.raises(ValueError, match="draws"):
        kernel_estimates("positive", x, y, num_features=4, draws=1)
    with pytest.raises(ValueError, match="vary"):
        relative_mse_curves(vary="both", values=[1.0], fixed=1.0, head_dim=4, num_features=4)


def test_relative_mse_curves_hold_one_norm_fixed():
    table = relative_mse_curves(
        vary="sum", values=[0.2, 0.6], fixed=0.5, head_dim=8, num_features=8, draws=400
    )
    assert list(table.columns) == ["feature_map", "sum_norm", "diff_norm", "theory", "mc", "mc_se"]
    assert len(table) == 8 and (table["diff_norm"] == 0.5).all()
    trig = table[table["feature_map"] == "trig"]["theory"].to_numpy()
    assert trig[0] == pytest.approx(trig[1])  # trig depends on |x − y| only
    positive = table[table["feature_map"] == "positive"]
    expected = np.expm1(positive["sum_norm"].to_numpy() ** 2) / 8
    np.testing.assert_allclose(positive["theory"], expected)
    assert (table["mc_se"] > 0).all()


def test_ratio_slice_follows_fig_2():
    angles = [-2.5, 0.8, 2.5]
    table = ratio_slice(angles, length=0.7, head_dim=8, num_features=8, draws=3000)
    np.testing.assert_allclose(table["theory"], trig_positive_ratio(np.array(angles), 0.7))
    # Light tails at l = 0.7: the Monte Carlo ratio lands within 25 % of the closed form.
    np.testing.assert_allclose(table["mc"], table["theory"], rtol=0.25)
    assert table["mc"].iloc[0] > 1 > table["mc"].iloc[1]  # positive wins at obtuse angles


def test_orthogonal_rows_do_better_than_iid_ones():
    table = orthogonal_gain([1, 4, 8], length=0.5, angle=1.0, head_dim=8, draws=3000)
    assert (table["orthogonal_bound"] <= table["iid_theory"]).all()
    assert table["orthogonal_bound"].iloc[0] == table["iid_theory"].iloc[0]  # no gap at m = 1
    last = table.iloc[-1]  # m = d: Theorem 2's bound holds up to Monte Carlo noise
    assert last.orthogonal_mc <= last.orthogonal_bound + 5 * last.orthogonal_se
    assert last.orthogonal_mc < last.iid_mc


def test_saderf_imbalance_curve_is_flat_where_oprf_grows():
    # |y|/|x| = t at fixed x·y: FAVOR#'s closed form does not depend on t, OPRF's grows with
    # |x + y|². FAVOR#'s Monte Carlo (relative variance per vector ≈ 2, light tails) sits
    # within 5 SE of its line at every t; OPRF's is checked where its tail is light (t ≤ 2).
    from explorer.theory.montecarlo_curves import saderf_imbalance_curve

    table = saderf_imbalance_curve(
        (1.0, 2.0, 8.0), length=0.8, angle=1.0, head_dim=8, num_features=16, draws=4000, seed=1
    )
    sharp = table[table.feature_map == "saderf"]
    oprf = table[table.feature_map == "oprf"]
    np.testing.assert_allclose(sharp.theory, sharp.theory.iloc[0], rtol=1e-3)
    assert np.all(np.diff(oprf.theory) > 0) and oprf.theory.iloc[-1] > 5 * sharp.theory.iloc[-1]
    assert np.all(np.abs(sharp.mc - sharp.theory) < 5 * sharp.mc_se)
    light = oprf[oprf.ratio <= 2]
    assert np.all(np.abs(light.mc - light.theory) < 5 * light.mc_se)
