"""Peers' attention: outputs equal explicit float64 formulas, and performer-pytorch itself."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from explorer.attention.exact import softmax_attention
from explorer.attention.peers import peer_attention
from explorer.kernels.feature_maps import Features
from explorer.kernels.recipes import RECIPES
from tests.conftest import gaussian


def _explicit(phi_x, phi_y, v, *, causal, eps=0.0, key_eps=0.0, guard=0.0):
    """Ŷ = (K V)/(K 1 + eps + key_eps·Σφ(x) (+ guard)) with K = φ(x)φ(y)ᵀ, masked, float64."""
    kernel = phi_x @ phi_y.T  # (l, s)
    if causal:
        kernel = torch.tril(kernel)
    normalizer = kernel.sum(-1) + eps + (key_eps * phi_x.sum(-1) if causal else 0.0)  # (l,)
    normalizer = normalizer + 2 * guard * (normalizer.abs() <= guard).double()
    return (kernel @ v) / normalizer.unsqueeze(-1)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("name", ["google", "performer_pytorch", "fast_transformers"])
def test_peer_outputs_equal_their_explicit_formula(name, causal, generator):
    x, y = gaussian(13, 8, generator=generator), gaussian(13, 8, generator=generator)
    v = gaussian(13, 3, generator=generator)
    recipe = RECIPES[name]
    w = recipe.draw(16, 8, seed=4, queries=x)
    features = recipe.feature_pair(x, y, w)
    got = peer_attention(recipe, features, v, causal=causal, chunk_size=4).output
    want = _explicit(
        features.query,
        features.key,
        v,
        causal=causal,
        eps=recipe.normalizer_eps,
        key_eps=recipe.causal_key_eps,
        guard=recipe.normalizer_guard,
    )
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_the_guard_lifts_a_vanishing_normaliser():
    google = RECIPES["google"]
    phi = torch.full((2, 3), 1e-5, dtype=torch.float64)  # D = 3·(1e-5)²·2 = 6e-10 ≤ g
    out = peer_attention(google, Features(phi, phi, signed=False), torch.ones(2, 1).double())
    d = 3 * 2 * 1e-10
    torch.testing.assert_close(out.normalizer, torch.full((2,), d + 2e-6, dtype=torch.float64))


@pytest.mark.parametrize("causal", [False, True])
def test_performer_pytorch_recipe_is_performer_pytorch(causal, generator):
    pp = pytest.importorskip(
        "performer_pytorch",
        reason="performer-pytorch not installed: pip install --no-deps -r requirements-bench.txt",
    )
    d, l, m = 16, 40, 44
    q, k = gaussian(1, 2, l, d, generator=generator), gaussian(1, 2, l, d, generator=generator)
    v = gaussian(1, 2, l, 5, generator=generator)
    recipe = RECIPES["performer_pytorch"]
    w = recipe.draw(m, d, seed=3, queries=q)
    peer = pp.FastAttention(d, nb_features=m, causal=causal).double()
    peer.projection_matrix.copy_(w)  # the same W: only the computation is compared
    want = peer(q, k, v)
    root = d**-0.25  # performer-pytorch's data_normalizer: x = q·√(1/√d)
    features = recipe.feature_pair(q * root, k * root, w)
    got = peer_attention(recipe, features, v, causal=causal).output
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_eps_after_the_exp_pulls_the_output_towards_uniform(generator):
    """performer-pytorch's ε = 1e-4 against the same recipe without it, on the same W.

    Seeded case: d = 16, L = 48, σ = 0.8 (mean |x|² ≈ 10), m = 64, 32 seeds. The keys' global
    shift makes their features ≈ e^{−10}, below ε, so P̂ leans to uniform. Measured there:
    ‖Ŷ − U‖/‖Y − U‖ is 0.036 ± 0.037 (seed std) with ε and 0.78 ± 0.09 without, so the
    bounds below sit over 10 standard errors (std/√32) from either mean.
    """
    g = torch.Generator().manual_seed(7)
    d, l, m = 16, 48, 64
    x = torch.randn(l, d, generator=g, dtype=torch.float64) * 0.8
    y = torch.randn(l, d, generator=g, dtype=torch.float64) * 0.8
    v = torch.randn(l, 4, generator=g, dtype=torch.float64)
    exact = softmax_attention(x, y, v, scale=1.0)
    uniform = v.mean(0, keepdim=True)
    reach = (exact - uniform).norm()
    with_eps = RECIPES["performer_pytorch"]
    without = replace(with_eps, feature_eps=0.0)
    ratios = {"eps": [], "none": []}
    for seed in range(32):
        w = with_eps.draw(m, d, seed=seed, queries=x)
        for key, recipe in (("eps", with_eps), ("none", without)):
            out = peer_attention(recipe, recipe.feature_pair(x, y, w), v).output
            ratios[key].append(float((out - uniform).norm() / reach))
    eps_mean = sum(ratios["eps"]) / 32
    none_mean = sum(ratios["none"]) / 32
    assert eps_mean < 0.35, eps_mean  # collapsed most of the way to uniform attention
    assert none_mean > 0.6, none_mean  # the same W without ε keeps the attention's shape


def test_windows_are_refused(generator):
    recipe = RECIPES["google"]
    x = gaussian(4, 4, generator=generator)
    features = recipe.feature_pair(x, x, recipe.draw(4, 4, seed=0, queries=x))
    with pytest.raises(ValueError, match="sliding window"):
        peer_attention(recipe, features, x, causal=True, window=2)
