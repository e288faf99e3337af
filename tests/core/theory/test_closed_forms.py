"""Closed forms against seeded Monte Carlo and against the papers' stated limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.attention.exact import softmax_attention
from explorer.attention.linear import linear_attention
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.projections import draw_projection
from explorer.streams import stream
from explorer.theory.closed_forms import (
    delta_method_output_mse,
    optimal_a,
    orthogonal_gap,
    relative_mse,
    saderf_relative_mse,
    trig_positive_ratio,
)
from explorer.theory.montecarlo import kernel_estimates, pair_from_angle
from tests.conftest import gaussian

# (map, r, angle): geometries where the relative variance per vector is moderate (≤ ~1), so the
# squared errors are light-tailed enough for their sample mean's standard error to be reliable.
CASES = [
    ("positive", 1.0, 2.5),
    ("positive", 0.6, 1.0),
    ("hyperbolic", 1.0, 2.5),
    ("hyperbolic", 0.6, 1.0),
    ("trig", 0.7, 0.5),
    ("trig", 1.0, 1.2),
    ("oprf", 1.0, 2.5),
    ("oprf", 0.8, 0.3),
]


@pytest.mark.parametrize("name, r, angle", CASES)
def test_relative_mse_matches_monte_carlo(name, r, angle):
    # Empirical MSE/SM² of 40k independent m = 4 estimates within 5 of its standard errors of
    # the closed form (Lemma 2 / FAVOR++): a wrong constant (a factor 2) is tens of SE away.
    d, m = 8, 4
    x, y = pair_from_angle(r, angle, d)
    sm = math.exp(float(x @ y))
    rel_sq = ((kernel_estimates(name, x, y, num_features=m, draws=40_000, seed=3) - sm) / sm) ** 2
    expected = relative_mse(
        name,
        sq_sum=float((x + y) @ (x + y)),
        sq_diff=float((x - y) @ (x - y)),
        num_features=m,
        head_dim=d,
    )
    se = float(rel_sq.std()) / math.sqrt(len(rel_sq))
    assert abs(float(rel_sq.mean()) - float(expected)) < 5 * se, (rel_sq.mean(), expected)


def test_orthogonal_features_beat_theorem_2_bound():
    # Theorem 2: with m ≤ d orthogonal rows, MSE_ort ≤ MSE_iid − gap. Check the empirical MSE
    # of orthogonal positive features against the bound (5 SE of slack for sampling noise).
    d = m = 8
    x, y = pair_from_angle(0.5, 1.0, d)  # |x+y|² ≈ 0.77: light tails, and a gap of ~12 % of the MSE
    sm = math.exp(float(x @ y))
    sq = (
        kernel_estimates(
            "positive", x, y, num_features=m, draws=40_000, projection="orthogonal", seed=4
        )
        - sm
    ) ** 2
    iid = float(relative_mse("positive", sq_sum=float((x + y) @ (x + y)), num_features=m)) * sm**2
    gap = float(
        orthogonal_gap(
            x_sq=float(x @ x), y_sq=float(y @ y), dot=float(x @ y), num_features=m, head_dim=d
        )
    )
    se = float(sq.std()) / math.sqrt(len(sq))
    assert float(sq.mean()) <= iid - gap + 5 * se
    assert gap > 5 * se  # the bound is a real reduction here, not noise
    with pytest.raises(ValueError, match="m ≤ d"):
        orthogonal_gap(x_sq=1, y_sq=1, dot=0, num_features=9, head_dim=8)


def test_limits_stated_in_the_paper():
    # As SM → 0 (antiparallel, growing length) trig MSE → ∞ and positive MSE → 0 (Lemma 2).
    lengths = np.array([0.5, 1.0, 2.0, 3.0])
    x_sq = lengths**2
    sm = np.exp(-x_sq)  # angle π: x·y = −l²
    pos = relative_mse("positive", sq_sum=0.0 * x_sq, num_features=1) * sm**2
    trig = relative_mse("trig", sq_sum=0.0, sq_diff=4 * x_sq, num_features=1) * sm**2
    assert np.all(np.diff(trig) > 0) and trig[-1] > 1e3
    assert np.all(pos == 0)  # |x + y| = 0 exactly: positive features are exact there
    pos_near = relative_mse("positive", sq_sum=0.01 * x_sq, num_features=1) * sm**2
    assert np.all(np.diff(pos_near) < 0) and pos_near[-1] < 1e-4
    # Hyperbolic with m vectors (2m features) beats positive with 2m vectors, for every ρ.
    rho = np.linspace(0.01, 20, 200)
    assert np.all(
        relative_mse("hyperbolic", sq_sum=rho, num_features=8)
        <= relative_mse("positive", sq_sum=rho, num_features=16)
    )


def test_ratio_map_is_the_ratio_of_the_lemma_2_forms():
    angle, length = np.meshgrid(np.linspace(-3.0, 3.0, 13), np.linspace(0.2, 2.0, 10))
    l2 = length**2
    trig = relative_mse("trig", sq_sum=0, sq_diff=2 * l2 * (1 - np.cos(angle)), num_features=5)
    pos = relative_mse("positive", sq_sum=2 * l2 * (1 + np.cos(angle)), num_features=5)
    np.testing.assert_allclose(trig_positive_ratio(angle, length), trig / pos, rtol=1e-10)
    # Fig. 2's reading: positive wins (r > 1) for antiparallel vectors (small kernel values).
    assert trig_positive_ratio(3.0, 1.0) > 1 > trig_positive_ratio(0.3, 1.0)


def test_ratio_map_at_zero_length_is_its_limit():
    # At l = 0 both MSEs vanish; r → l²(1 − cos φ)²/(1 + cos φ) → 0, except at φ = ±π where the
    # positive MSE is 0 for every l (x = −y) and r = +inf. Never NaN.
    angles = np.array([-3.0, -1.0, 0.0, 0.5, 2.0, np.pi, -np.pi])
    at_zero = trig_positive_ratio(angles, 0.0)
    assert not np.isnan(at_zero).any()
    np.testing.assert_array_equal(at_zero[:5], 0.0)
    assert np.isinf(at_zero[5:]).all()
    # and it is approached continuously: at small l the ratio follows l²(1 − cos φ)²/(1 + cos φ)
    cos = np.cos(angles[:5])
    np.testing.assert_allclose(
        trig_positive_ratio(angles[:5], 1e-3), 1e-6 * (1 - cos) ** 2 / (1 + cos), rtol=1e-2
    )
    assert np.isinf(trig_positive_ratio(np.pi, 0.7))


def test_oprf_a_star_minimises_its_variance_and_a_zero_is_positive():
    for rho in (0.5, 5.0, 40.0):
        a_star = optimal_a(rho, 16)
        best = relative_mse("oprf", sq_sum=rho, num_features=1, head_dim=16, a=a_star)
        for a in (a_star - 0.01, a_star + 0.01):
            assert best <= relative_mse("oprf", sq_sum=rho, num_features=1, head_dim=16, a=a)
        assert best <= relative_mse("positive", sq_sum=rho, num_features=1)
    assert relative_mse("oprf", sq_sum=3.0, num_features=2, head_dim=8, a=0.0) == pytest.approx(
        relative_mse("positive", sq_sum=3.0, num_features=2)
    )


def test_bad_requests():
    with pytest.raises(ValueError, match="sq_diff"):
        relative_mse("trig", sq_sum=1.0, num_features=1)
    with pytest.raises(ValueError, match="no closed-form"):
        relative_mse("relu", sq_sum=1.0, num_features=1)
    with pytest.raises(ValueError, match="num_features"):
        relative_mse("positive", sq_sum=1.0, num_features=0)


@pytest.mark.parametrize("causal", [False, True])
def test_delta_method_predicts_output_error(causal):
    # Small norms (σ = 0.2 per entry at d = 16): the denominator's relative variance is ≪ 1, so
    # the first-order prediction should match Monte Carlo (theory notes: ratio ≈ 0.99). 600 iid
    # redraws estimate E‖Ŷ − Y‖² to about ±6 % (one SE), so ±20 % is > 3 SE.
    g = torch.Generator().manual_seed(31)
    x, y = gaussian(1, 32, 16, generator=g, scale=0.2), gaussian(1, 32, 16, generator=g, scale=0.2)
    v = gaussian(1, 32, 4, generator=g)
    m = 64
    prediction = delta_method_output_mse(x, y, v, num_features=m, causal=causal)
    assert prediction.valid
    exact = softmax_attention(x, y, v, scale=1.0, causal=causal)
    fmap = get_feature_map("positive")
    sq = []
    for seed in range(600):
        w = draw_projection("iid", m, 16, stream=stream("features", seed))
        approx = linear_attention(fmap(x, y, w), v, causal=causal).output
        sq.append(float(((approx - exact) ** 2).sum()))
    measured = math.sqrt(np.mean(sq) / float((exact**2).sum()))
    assert measured == pytest.approx(prediction.predicted_relative_error, rel=0.2)
    # Per row too: the prediction ranks rows the way the measurement does.
    assert prediction.row_mse.shape == (1, 32)


def test_delta_method_flags_the_heavy_tailed_regime():
    g = torch.Generator().manual_seed(32)
    x, y = gaussian(1, 16, 16, generator=g, scale=0.8), gaussian(1, 16, 16, generator=g, scale=0.8)
    prediction = delta_method_output_mse(x, y, gaussian(1, 16, 2, generator=g), num_features=16)
    assert not prediction.valid


def test_delta_method_overflows_to_inf_not_nan():
    # At σ = 10 (|x|² ≈ 400 at d = 16) the prediction's factor e^{|x|² + 2 log D} is far past
    # float64: the predicted MSE is then +inf (the invalid regime), never NaN.
    g = torch.Generator().manual_seed(33)
    x, y = (
        gaussian(1, 16, 16, generator=g, scale=20.0),
        gaussian(1, 16, 16, generator=g, scale=20.0),
    )
    prediction = delta_method_output_mse(x, y, gaussian(1, 16, 2, generator=g), num_features=16)
    assert not prediction.valid
    assert (
        not np.isnan(prediction.row_mse).any()
        and not np.isnan(prediction.denominator_variance).any()
    )
    assert math.isinf(prediction.predicted_relative_error)


@pytest.mark.parametrize("lam, angle", [(3.0, 2.5), (2.0, 0.5), (1.0, 1.0)])
def test_saderf_relative_mse_matches_monte_carlo(lam, angle):
    # FAVOR#'s closed form is OPRF's on the rebalanced pair (Ψx, Ψ⁻¹y). Unbalanced norms
    # (|y| = λ²|x|) and coordinates seen by one side only make Ψ ≠ I. 40k draws of m = 4:
    # the empirical MSE/SM² within 5 standard errors of the form (per-vector variance ≤ ~8
    # here, light-tailed enough); a factor 2 or the unrebalanced form would be far off.
    d, m = 8, 4
    x, y = pair_from_angle(1.0, angle, d)
    x, y = x / lam, y * lam
    x[2], y[3] = 0.3, 0.2
    sm = math.exp(float(x @ y))
    estimates = kernel_estimates("saderf", x, y, num_features=m, draws=40_000, seed=3)
    rel_sq = ((estimates - sm) / sm) ** 2
    expected = float(saderf_relative_mse(x[None], y[None], num_features=m)[0, 0])
    se = float(rel_sq.std()) / math.sqrt(len(rel_sq))
    assert abs(float(rel_sq.mean()) - expected) < 5 * se, (rel_sq.mean(), expected)
    oprf = relative_mse("oprf", sq_sum=float((x + y) @ (x + y)), num_features=m, head_dim=d)
    assert expected <= float(oprf)  # ρ' ≤ ρ: rebalancing never raises the bound
