"""FAVOR# / SADERF: Ψ keeps x·y, balances the norms, and the features stay unbiased OPRF ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.attention.linear import approximate_weights
from explorer.kernels.exponential import mean_pair_sq_sum, optimal_oprf_a
from explorer.kernels.feature_maps import FEATURE_MAPS, get_feature_map
from explorer.kernels.projections import draw_projection
from explorer.kernels.saderf import rebalanced, saderf_scaling
from explorer.streams import stream
from explorer.theory.montecarlo import kernel_estimates, pair_from_angle
from tests.conftest import gaussian


def _skewed(generator, *shape):
    """Queries small and keys large along different coordinates: Ψ is far from I."""
    x = gaussian(*shape, generator=generator, scale=0.3)
    y = gaussian(*shape, generator=generator, scale=0.9)
    scales = torch.linspace(0.3, 3.0, shape[-1], dtype=torch.float64)
    return x * scales, y / scales


def test_registered_as_an_unbiased_exponential_map():
    fmap = FEATURE_MAPS["saderf"]
    assert fmap.kernel == "unbiased" and fmap.exponent is not None and not fmap.signed
    assert fmap.feature_dim(64, 8) == 64


def test_scaling_is_the_closed_form_and_keeps_dot_products():
    g = torch.Generator().manual_seed(1)
    x, y = _skewed(g, 2, 9, 6)
    psi = saderf_scaling(x, y)
    xn, yn = x.numpy(), y.numpy()
    # Ψ_ll = (mean_j y_jl² / mean_i x_il²)^(1/4), here the paper's sums (l = s = 9).
    expected = ((yn**2).sum(-2) / (xn**2).sum(-2)) ** 0.25  # (2, 6)
    np.testing.assert_allclose(psi[:, 0].numpy(), expected, rtol=1e-6)
    x_new, y_new = rebalanced(x, y)
    torch.testing.assert_close(x_new @ y_new.transpose(-2, -1), x @ y.transpose(-2, -1))
    # It balances each coordinate: mean x'_l² = mean y'_l² (up to the tiny floor).
    torch.testing.assert_close((x_new**2).mean(-2), (y_new**2).mean(-2), rtol=1e-6, atol=1e-12)


def test_scaling_minimises_the_homogeneity_heuristic():
    # ρ'(Ψ) = mean |Ψx + Ψ⁻¹y|² is minimised coordinate-wise: any perturbation raises it.
    g = torch.Generator().manual_seed(2)
    x, y = _skewed(g, 1, 12, 5)
    psi = saderf_scaling(x, y)
    best = float(mean_pair_sq_sum(x * psi, y / psi))
    assert best < float(mean_pair_sq_sum(x, y))
    for factor in (0.8, 1.25):
        for l in range(5):
            bumped = psi.clone()
            bumped[..., l] *= factor
            assert float(mean_pair_sq_sum(x * bumped, y / bumped)) > best


def test_features_are_explicit_oprf_of_the_rebalanced_inputs():
    # Unstabilised φ against the GERF formula D·exp(A|w|² + B w·x' − |x'|²/2)/√m in float64,
    # with A* fitted to the rebalanced pair, and the kernel matrix φ(Q)φ(K)ᵀ it gives.
    g = torch.Generator().manual_seed(3)
    x, y = _skewed(g, 2, 7, 4)
    w = draw_projection("iid", 16, 4, stream=stream("features", 7))
    features = get_feature_map("saderf")(x, y, w, stabilize=False)
    psi = saderf_scaling(x, y)
    xp, yp = x * psi, y / psi
    a = optimal_oprf_a(mean_pair_sq_sum(xp, yp), 4)[:, None, None]  # (2, 1, 1)
    b, d_log = torch.sqrt(1 - 4 * a), 0.25 * 4 * torch.log(1 - 4 * a)

    def phi(t):
        expo = a * (w * w).sum(-1) + b * (t @ w.T) - 0.5 * (t * t).sum(-1, keepdim=True)
        return torch.exp(expo + d_log) / math.sqrt(16)

    torch.testing.assert_close(features.query, phi(xp))
    torch.testing.assert_close(features.key, phi(yp))
    stable = approximate_weights(get_feature_map("saderf")(x, y, w))
    explicit = phi(xp) @ phi(yp).transpose(-2, -1)
    torch.testing.assert_close(stable, explicit / explicit.sum(-1, keepdim=True))


def test_grouped_heads_fit_each_query_head():
    # x (h_kv, g, l, d) against y (h_kv, 1, s, d) equals each query head on its own key head.
    g = torch.Generator().manual_seed(4)
    x, y = gaussian(2, 3, 5, 4, generator=g), gaussian(2, 1, 6, 4, generator=g, scale=2.0)
    w = draw_projection("orthogonal", 8, 4, stream=stream("features", 8))
    fmap = get_feature_map("saderf")
    grouped = approximate_weights(fmap(x, y, w))  # (2, 3, 5, 6)
    for h in range(2):
        for q in range(3):
            alone = approximate_weights(fmap(x[h, q], y[h, 0], w))
            torch.testing.assert_close(grouped[h, q], alone)


def test_zero_coordinates_stay_finite():
    # A coordinate that is zero in every query (pair_from_angle's last d − 2) needs the floor.
    x, y = pair_from_angle(1.0, 1.0, 6)
    x_new, y_new = rebalanced(x[None], y[None])
    assert torch.isfinite(x_new).all() and torch.isfinite(y_new).all()
    w = draw_projection("iid", 8, 6, stream=stream("features", 9))
    features = get_feature_map("saderf")(x[None].float(), y[None].float(), w.float())
    assert torch.isfinite(features.query).all() and torch.isfinite(features.key).all()


@pytest.mark.parametrize("projection", ["iid", "orthogonal"])
def test_unbiased_where_oprf_is_loose(projection):
    # |y| = 9|x|: OPRF's relative variance is large, FAVOR#'s small. The mean of 20k estimates
    # lies within 5 standard errors of exp(x·y) (chance failure ~1e-6); the squared errors of
    # FAVOR# are lighter-tailed, and its MSE is far below OPRF's on the same draws.
    x, y = pair_from_angle(1.0, 0.8, 8)
    x, y = x / 3, y * 3
    x[3], y[4] = 0.2, 0.4  # coordinates seen by one side only
    sm = math.exp(float(x @ y))
    sharp = kernel_estimates(
        "saderf", x, y, num_features=8, draws=20_000, projection=projection, seed=5
    )
    se = float(sharp.std()) / math.sqrt(sharp.size)
    assert abs(float(sharp.mean()) - sm) < 5 * se
    plus = kernel_estimates(
        "oprf", x, y, num_features=8, draws=20_000, projection=projection, seed=5
    )
    assert ((sharp - sm) ** 2).mean() < 0.5 * ((plus - sm) ** 2).mean()
