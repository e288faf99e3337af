"""Feature maps: unbiased where claimed, stabilisers cancel, registry complete."""

from __future__ import annotations

import math

import pytest
import torch

from explorer.attention.linear import approximate_weights
from explorer.kernels.exponential import oprf_exponent, optimal_oprf_a, positive_exponent
from explorer.kernels.feature_maps import (
    FEATURE_MAPS,
    Features,
    get_feature_map,
    positive_features,
)
from explorer.kernels.projections import draw_projection
from explorer.streams import stream
from explorer.theory.montecarlo import kernel_estimates, pair_from_angle
from tests.conftest import gaussian

UNBIASED = [name for name, spec in FEATURE_MAPS.items() if spec.kernel == "unbiased"]
# hybrid needs m > d for orthogonal rows (m ≤ d couples its two kinds of rows, a documented
# bias shown in tests/core/kernels/test_hybrid.py, which also checks m > d and iid rows).
UNBIASED_AT_M_EQ_D = [name for name in UNBIASED if name != "hybrid"]


def test_registry_is_complete_and_read_only():
    # Other branches add entries: check these are present, not that nothing else is.
    assert set(FEATURE_MAPS) >= {"trig", "positive", "hyperbolic", "oprf", "relu", "elu_plus_one"}
    assert set(UNBIASED) >= {"trig", "positive", "hyperbolic", "oprf"}
    assert FEATURE_MAPS["relu"].kernel == FEATURE_MAPS["elu_plus_one"].kernel == "substitute"
    with pytest.raises(TypeError):
        FEATURE_MAPS["new"] = FEATURE_MAPS["relu"]  # type: ignore[index]
    with pytest.raises(ValueError, match="unknown feature map"):
        get_feature_map("favor")


@pytest.mark.parametrize("name", UNBIASED_AT_M_EQ_D)
@pytest.mark.parametrize("projection", ["iid", "orthogonal"])
@pytest.mark.parametrize("r, angle", [(0.7, 0.5), (1.0, 2.5)])
def test_kernel_estimate_is_unbiased(name, projection, r, angle):
    # The mean of 20k independent estimates must be within 5 standard errors of exp(x·y): a
    # real bias of a few percent (e.g. the unfixed QR, an eps) is many SE; chance failure ~1e-6.
    x, y = pair_from_angle(r, angle, 8)
    estimates = kernel_estimates(
        name, x, y, num_features=8, draws=20_000, projection=projection, seed=1
    )
    target = math.exp(float(x @ y))
    error = estimates.std() / math.sqrt(len(estimates))
    assert abs(float(estimates.mean()) - target) < 5 * float(error)


@pytest.mark.parametrize("name", FEATURE_MAPS)
def test_stabilisers_cancel_exactly(name):
    # Moderate inputs: stabilised and raw features give the same attention to rounding.
    g = torch.Generator().manual_seed(5)
    x, y = gaussian(2, 12, 6, generator=g, scale=0.6), gaussian(2, 12, 6, generator=g, scale=0.6)
    w = draw_projection("orthogonal", 16, 6, stream=stream("features", 1))
    fmap = get_feature_map(name)
    for causal in (False, True):
        plain = approximate_weights(fmap(x, y, w, stabilize=False), causal=causal)
        stable = approximate_weights(fmap(x, y, w, stabilize=True), causal=causal)
        torch.testing.assert_close(stable, plain, atol=1e-12, rtol=1e-10)


def test_stabiliser_prevents_overflow():
    # Large norms under/overflow exp in float32 without the shift (rows are lost: all features
    # 0 or inf); with it every row keeps a feature of 1 and the weights stay a distribution.
    g = torch.Generator().manual_seed(6)
    x = gaussian(1, 16, 8, generator=g)
    x = (13.0 * x / x.norm(dim=-1, keepdim=True)).float()  # |x|² = 169: exp(w·x − 84) ≈ 0
    w = draw_projection("iid", 32, 8, stream=stream("features", 2)).float()
    raw = approximate_weights(positive_features(x, x, w, stabilize=False))
    stable = approximate_weights(positive_features(x, x, w, stabilize=True))
    lost = ~torch.isfinite(raw).all(-1) | (raw.sum(-1) == 0)
    assert lost.any()
    assert torch.isfinite(stable).all()
    torch.testing.assert_close(stable.sum(-1), torch.ones(1, 16))


def test_positive_maps_are_positive_and_trig_is_signed():
    g = torch.Generator().manual_seed(7)
    x = gaussian(3, 10, 4, generator=g)
    w = draw_projection("iid", 32, 4, stream=stream("features", 3))
    for name in ("positive", "hyperbolic", "oprf"):
        features = get_feature_map(name)(x, x, w)
        assert (features.query > 0).all() and (features.key > 0).all()
        assert not features.signed and features.exponential
    features = get_feature_map("trig")(x, x, w)
    assert (features.query < 0).any() and features.signed and not features.exponential


@pytest.mark.parametrize("name", ["positive", "hyperbolic", "oprf"])
def test_logits_are_the_stabilised_exponents(name):
    # Features.logits(rows) must give exactly the exponents behind φ (same shifts), for the
    # rows that get recomputed in the log domain.
    g = torch.Generator().manual_seed(9)
    x, y = gaussian(2, 9, 5, generator=g), gaussian(2, 7, 5, generator=g)
    w = draw_projection("orthogonal", 12, 5, stream=stream("features", 5))
    features = get_feature_map(name)(x, y, w)
    rows = torch.tensor([1, 4, 8])
    log_q, log_k = features.logits(rows)
    torch.testing.assert_close(log_q.exp(), features.query[:, rows])
    torch.testing.assert_close(log_k.exp(), features.key)
    # The stabiliser: each key feature's largest value is 1, and so is each query row's.
    ones = torch.ones(2, features.key.shape[-1], dtype=x.dtype)
    torch.testing.assert_close(features.key.amax(dim=-2), ones)
    torch.testing.assert_close(features.query.amax(dim=-1), torch.ones(2, 9, dtype=x.dtype))


def test_non_causal_normalisers_of_exponential_maps_are_at_least_one():
    # The per-feature key shift with the query row shift makes the best pair's product e⁰ = 1,
    # at any norm: σ = 20 in float32 would underflow every product under a global shift.
    g = torch.Generator().manual_seed(10)
    x = gaussian(1, 32, 16, generator=g, scale=20.0)
    y = gaussian(1, 32, 16, generator=g, scale=20.0)
    w = draw_projection("iid", 64, 16, stream=stream("features", 6))
    for name in ("positive", "hyperbolic", "oprf"):
        features = get_feature_map(name)(x.float(), y.float(), w.float())
        d = (features.query @ features.key.transpose(-2, -1)).sum(-1)
        assert torch.all(d >= 1.0 - 1e-6), name


def test_oprf_reduces_to_positive_at_a_zero_and_fits_a_star():
    g = torch.Generator().manual_seed(8)
    x, y = gaussian(2, 9, 5, generator=g), gaussian(2, 11, 5, generator=g)
    w = draw_projection("iid", 16, 5, stream=stream("features", 4))
    for a, b in zip(oprf_exponent(x, y, w, a=0.0), positive_exponent(x, y, w), strict=True):
        torch.testing.assert_close(a, b)
    rho = torch.tensor([0.0, 1.0, 30.0], dtype=torch.float64)
    a_star = optimal_oprf_a(rho, 8)
    assert a_star[0] == 0 and torch.all(a_star <= 0)
    # Asymptotics from FAVOR++: A* ≈ −ρ/(4d) for ρ ≫ d.
    assert float(optimal_oprf_a(torch.tensor(1e6), 8)) == pytest.approx(-1e6 / 32, rel=1e-3)


def test_deterministic_map_ignores_projection_and_checks_dims():
    fmap = get_feature_map("elu_plus_one")
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(fmap(x, x, None).query, torch.nn.functional.elu(x) + 1)
    assert fmap.feature_dim(256, 3) == 3
    assert get_feature_map("trig").feature_dim(256, 3) == 512
    with pytest.raises(ValueError, match="needs a projection"):
        get_feature_map("positive")(x, x, None)
    with pytest.raises(ValueError, match="head dims differ"):
        get_feature_map("relu")(x, x[:, :2], torch.ones(4, 3, dtype=torch.float64))


NESTED = [name for name, spec in FEATURE_MAPS.items() if spec.nested]


def test_nested_maps_are_the_ones_expected():
    # the report's cumulative K relies on the flag: a map wrongly flagged would mis-report
    assert set(NESTED) == {"positive", "trig", "hyperbolic", "oprf", "relu", "saderf"}
    with pytest.raises(ValueError, match="not nested"):
        FEATURE_MAPS["hybrid"].columns(4, 8)
    with pytest.raises(ValueError, match="num_features"):
        FEATURE_MAPS["positive"].columns(9, 8)


@pytest.mark.parametrize("name", NESTED)
def test_nested_columns_give_the_same_weights_as_the_smaller_draw(name):
    # P̂ of W[:m] (what compare computes at m) against P̂ of φ(W)'s columns for m, float64.
    # Large norms (scale 2) make the row maxima of m and of all 40 rows differ, so a missing
    # factor would show far above rounding.
    g = torch.Generator().manual_seed(8)
    x, y = gaussian(3, 12, 6, generator=g, scale=2.0), gaussian(3, 10, 6, generator=g, scale=2.0)
    w = draw_projection("orthogonal", 40, 6, stream=stream("features", 2))
    fmap = FEATURE_MAPS[name]
    whole = fmap(x, y, w)
    for m in (1, 7, 40):
        cols = fmap.columns(m, 40)
        sliced = Features(
            torch.cat([whole.query[..., c] for c in cols], -1),
            torch.cat([whole.key[..., c] for c in cols], -1),
            signed=whole.signed,
        )
        ref = approximate_weights(fmap(x, y, w[:m]))
        torch.testing.assert_close(approximate_weights(sliced), ref, rtol=1e-10, atol=1e-13)
