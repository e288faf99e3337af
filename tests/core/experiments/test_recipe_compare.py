"""compare under a peer's recipe: the peer's formula on the config's data, seeded as the peer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from explorer.experiments.compare import ExperimentConfig, compare, synthetic_inputs
from explorer.kernels.recipes import RECIPES

SMALL = ExperimentConfig(
    seq_len=40, head_dim=8, num_features=16, num_heads=2, dtype="float64", device="cpu"
)


def _explicit(recipe, config, causal):
    """The peer's output written out: φ from the recipe's W, (K V)/(K 1 + eps), float64."""
    data = synthetic_inputs(config)
    q, k, v = (torch.as_tensor(t) for t in (data.q, data.k, data.v))
    root = data.head_dim**-0.25  # x = q·√(1/√d)
    w = recipe.draw(config.num_features, data.head_dim, seed=config.seed, queries=data.q)
    features = recipe.feature_pair(q * root, k * root, w)
    kernel = features.query @ features.key.transpose(-2, -1)  # (h, l, s)
    if causal:
        kernel = torch.tril(kernel)
    normalizer = kernel.sum(-1) + recipe.normalizer_eps
    if causal:
        normalizer = normalizer + recipe.causal_key_eps * features.query.sum(-1)
    guard = recipe.normalizer_guard
    normalizer = normalizer + 2 * guard * (normalizer.abs() <= guard).double()
    return ((kernel @ v) / normalizer.unsqueeze(-1)).numpy()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("name", ["google", "performer_pytorch", "fast_transformers"])
def test_compare_runs_the_peers_formula(name, causal):
    config = replace(SMALL, recipe=name, causal=causal, seed=3)
    result = compare(config, with_maps=False)
    want = _explicit(RECIPES[name], config, causal)
    np.testing.assert_allclose(result.approx_output, want, rtol=1e-10, atol=1e-13)
    assert not result.estimates.unbiased_for_softmax
    assert RECIPES[name].label in result.estimates.summary


def test_the_explorer_recipe_is_the_default_path():
    assert SMALL.recipe == "explorer"
    a = compare(SMALL, with_maps=False)
    b = compare(replace(SMALL, recipe="explorer"), with_maps=False)
    np.testing.assert_array_equal(a.approx_output, b.approx_output)
    peer = compare(replace(SMALL, recipe="performer_pytorch"), with_maps=False)
    assert not np.array_equal(peer.approx_output, a.approx_output)
    np.testing.assert_array_equal(peer.exact_output, a.exact_output)  # same data, same target


def test_google_ignores_the_user_seed_and_the_others_follow_it():
    google = [compare(replace(SMALL, recipe="google", seed=s), with_maps=False) for s in (0, 1)]
    np.testing.assert_array_equal(google[0].approx_output, google[1].approx_output)
    other = replace(SMALL, recipe="google", data_seed=1)  # new data: a new W
    assert compare(other, with_maps=False).metrics.output_relative_error != (
        google[0].metrics.output_relative_error
    )
    lucid = [compare(replace(SMALL, recipe="performer_pytorch", seed=s)) for s in (0, 1)]
    assert not np.array_equal(lucid[0].approx_output, lucid[1].approx_output)


def test_unknown_recipes_are_refused():
    with pytest.raises(ValueError, match="unknown recipe"):
        ExperimentConfig(recipe="nope")
