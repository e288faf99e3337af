"""The peers' recipes: their features and W against explicit float64 formulas from their code."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from explorer.kernels.peers import plain_qr_projection, query_sum_seed
from explorer.kernels.projections import draw_projection
from explorer.kernels.recipes import RECIPES, get_recipe
from explorer.streams import stream
from tests.conftest import gaussian

PEERS = ("google", "performer_pytorch", "fast_transformers")


def test_the_registry_holds_the_peers_and_is_read_only():
    for name in ("explorer", *PEERS):
        assert RECIPES[name].name == name
    with pytest.raises(TypeError):
        RECIPES["other"] = RECIPES["explorer"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        RECIPES["google"].feature_eps = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown recipe"):
        get_recipe("nope")


def test_the_peers_settings_are_those_of_their_code():
    google, lucid, fast = (RECIPES[n] for n in PEERS)
    assert (google.feature_eps, google.normalizer_guard, google.seed_policy) == (1e-6, 1e-6, "data")
    assert (lucid.feature_eps, lucid.causal_key_eps, lucid.seed_policy) == (1e-4, 1e-6, "user")
    assert (fast.feature_eps, fast.normalizer_eps, fast.stabiliser) == (0.0, 1e-6, "none")
    assert not any(RECIPES[n].sign_correction for n in PEERS)
    assert RECIPES["explorer"].sign_correction
    assert lucid.default_m(64) == int(64 * math.log(64)) == 266
    assert google.default_m(64) == 256 and fast.default_m(64) == 32


def _eps_positive_loop(x, y, w, eps):
    """performer-pytorch softmax_kernel / google nonnegative_softmax_kernel_feature_creator,
    entry by entry: ratio·(exp(w·x − |x|²/2 − shift) + eps), shift = max_r w_r·x (queries),
    max over every key and feature of w·y (keys)."""
    m = w.shape[0]
    ratio = m**-0.5
    dash_x = [[float(x[i] @ w[r]) for r in range(m)] for i in range(x.shape[0])]
    dash_y = [[float(y[j] @ w[r]) for r in range(m)] for j in range(y.shape[0])]
    key_shift = max(max(row) for row in dash_y)
    phi_x = torch.tensor(
        [
            [ratio * (math.exp(a - 0.5 * float(x[i] @ x[i]) - max(row)) + eps) for a in row]
            for i, row in enumerate(dash_x)
        ],
        dtype=torch.float64,
    )
    phi_y = torch.tensor(
        [
            [ratio * (math.exp(b - 0.5 * float(y[j] @ y[j]) - key_shift) + eps) for b in row]
            for j, row in enumerate(dash_y)
        ],
        dtype=torch.float64,
    )
    return phi_x, phi_y


@pytest.mark.parametrize("name", ["google", "performer_pytorch"])
def test_eps_features_equal_the_peers_formula(name, generator):
    x, y = gaussian(9, 6, generator=generator), gaussian(11, 6, generator=generator, scale=1.5)
    recipe = RECIPES[name]
    w = recipe.draw(10, 6, seed=2, queries=x)
    features = recipe.feature_pair(x, y, w)
    want_x, want_y = _eps_positive_loop(x, y, w, recipe.feature_eps)
    torch.testing.assert_close(features.query, want_x, rtol=1e-12, atol=0)
    torch.testing.assert_close(features.key, want_y, rtol=1e-12, atol=0)
    assert not features.exponential and not features.signed  # no log-domain rows: peers have none


def test_fast_transformers_features_are_favor_forward(generator):
    x, y = gaussian(7, 8, generator=generator), gaussian(5, 8, generator=generator)
    recipe = RECIPES["fast_transformers"]
    w = recipe.draw(12, 8, seed=0, queries=x)
    omega = w.T  # Favor's buffer: (d, n_dims / 2), one random vector per column
    n_dims = 2 * w.shape[0]

    def favor(t):  # Favor.forward with stabilize=False (softmax_temp applied by the caller)
        u = t @ omega
        offset = 0.5 * (t * t).sum(-1, keepdim=True) + 0.5 * math.log(n_dims)
        return torch.cat([torch.exp(u - offset), torch.exp(-u - offset)], dim=-1)

    features = recipe.feature_pair(x, y, w)
    torch.testing.assert_close(features.query, favor(x), rtol=1e-12, atol=0)
    torch.testing.assert_close(features.key, favor(y), rtol=1e-12, atol=0)


def test_plain_qr_differs_from_the_fixed_draw_only_by_row_signs():
    d, m = 8, 20
    fixed = draw_projection("orthogonal", m, d, stream=stream("features", 5))
    plain = plain_qr_projection(m, d, stream=stream("features", 5), norms="independent")
    signs = (plain * fixed).sum(-1) / (fixed * fixed).sum(-1)  # ±1 per row
    torch.testing.assert_close(signs.abs(), torch.ones(m, dtype=torch.float64))
    torch.testing.assert_close(plain, fixed * signs.unsqueeze(-1))
    assert (signs < 0).any(), "Householder QR flips some columns: the sign fix must matter"
    # Plain Householder QR: Q[0, 0] < 0 always, so the first row of every block has a negative
    # first entry once its (positive) norm is applied: the rows are not isotropic.
    for start in range(0, m, d):
        assert plain[start, 0] < 0


def test_own_norms_are_the_qr_blocks_row_norms():
    d, m = 6, 9
    w = plain_qr_projection(m, d, stream=stream("features", 1), norms="own")
    for b, start in enumerate(range(0, m, d)):
        block = stream("features", 1).child(b).normal(d, d)  # the block fast-transformers QRs
        q, _ = torch.linalg.qr(block)
        rows = q.T * block.norm(dim=-1, keepdim=True)  # W[start + j] = Q[:, j]·|G[j, :]|
        torch.testing.assert_close(w[start : start + d], rows[: min(d, m - start)])


def test_google_seeds_w_from_the_queries_not_the_user_seed(generator):
    q = gaussian(4, 6, generator=generator)
    google = RECIPES["google"]
    first = google.draw(8, 6, seed=0, queries=q)
    torch.testing.assert_close(google.draw(8, 6, seed=123, queries=q), first, rtol=0, atol=0)
    assert not torch.equal(google.draw(8, 6, seed=0, queries=q * 1.001), first)
    assert query_sum_seed(q) == math.ceil(float(q.sum()) * 1e7) % 2**32
    lucid = RECIPES["performer_pytorch"]
    assert not torch.equal(lucid.draw(8, 6, seed=0, queries=q), lucid.draw(8, 6, seed=1, queries=q))


def test_the_explorer_recipe_has_no_peer_path(generator):
    explorer = RECIPES["explorer"]
    assert not explorer.peer
    with pytest.raises(ValueError, match="explorer recipe"):
        explorer.draw(4, 4, seed=0, queries=torch.zeros(2, 4))
