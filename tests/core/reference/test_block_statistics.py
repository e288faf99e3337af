"""Per-row statistics of P and P̂: any blocking gives the numbers of the whole matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.attention.exact import exact_weights
from explorer.attention.linear import approximate_weights
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.projections import draw_projection
from explorer.reference.fused_pass import PassOptions
from explorer.reference.metrics import weight_metrics
from explorer.streams import stream
from tests.conftest import gaussian


def explicit_metrics(x, y, features, causal):
    """The whole l×s matrices, with the definitions written out in numpy."""
    p = exact_weights(x, y, causal=causal, scale=1.0).numpy().reshape(-1, y.shape[-2])
    p_hat = approximate_weights(features, causal=causal).numpy().reshape(p.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(np.where(p_hat > 0, p_hat, 1))), 0.0)
    ok = np.all((p_hat > 0) | (p == 0), axis=-1)
    return {
        "weights_relative_error": np.linalg.norm(p_hat - p) / np.linalg.norm(p),
        "max_abs_error": np.abs(p_hat - p).max(),
        "row_tv": 0.5 * np.abs(p_hat - p).sum(-1),
        "row_kl": np.where(ok, terms.sum(-1), np.inf),
    }


@pytest.mark.parametrize("name", ["positive", "trig"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("l, s", [(30, 30), (23, 30), (30, 17)])
def test_chunked_metrics_equal_unchunked(name, causal, l, s):
    g = torch.Generator().manual_seed(33)
    x, y = gaussian(2, l, 6, generator=g, scale=0.6), gaussian(2, s, 6, generator=g, scale=0.6)
    w = draw_projection("iid", 8, 6, stream=stream("features", 0))
    features = get_feature_map(name)(x, y, w)
    whole = weight_metrics(x, y, features, PassOptions(causal=causal, memory_budget=2**40))
    for budget in (1, 3000):  # one row per block; a few rows per block
        part = weight_metrics(x, y, features, PassOptions(causal=causal, memory_budget=budget))
        for key, value in whole.items():  # blocks change only the rounding of row sums
            if value is None:  # no row with a defined KL
                assert part[key] is None, key
                continue
            np.testing.assert_allclose(part[key], value, rtol=1e-10, atol=1e-15, err_msg=key)
    ref = explicit_metrics(x, y, features, causal)
    for key, value in ref.items():
        np.testing.assert_allclose(np.asarray(whole[key]).ravel(), value, rtol=1e-9, atol=1e-14)


def _numpy_kl(p: np.ndarray, p_hat: np.ndarray) -> np.ndarray:
    """KL(P_i ‖ P̂_i) written out: Σ_{P>0} P (ln P − ln P̂), +inf where P̂ ≤ 0 < P."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(np.where(p_hat > 0, p_hat, 1))), 0.0)
    ok = np.all((p_hat > 0) | (p == 0), axis=-1)
    return np.where(ok, terms.sum(-1), np.inf)


@pytest.mark.parametrize("case", ["positive", "some_bad", "all_bad", "zeros_in_p"])
def test_row_kl_equals_the_definition_row_by_row(case):
    # Rows of every kind in one (g, n, r, s) block, P shared over g as in a report: P̂ > 0
    # (one log), P̂ ≤ 0 somewhere where P > 0 (+inf), and P with zeros exactly where P̂ ≤ 0
    # (finite: decided entry by entry). float64, so the two formulas agree to rounding.
    from explorer.reference.block_statistics import row_kl, visible_positive

    g = torch.Generator().manual_seed(5)
    p = torch.softmax(torch.randn(3, 5, 9, generator=g, dtype=torch.float64), -1)  # (n, r, s)
    p_hat = torch.softmax(torch.randn(2, 3, 5, 9, generator=g, dtype=torch.float64), -1)
    if case in ("some_bad", "all_bad"):
        p_hat[0, 1, 2, 4] = -0.01
        p_hat[1, :, 3, 0] = 0.0
    if case == "all_bad":
        p_hat[..., 7] = -1e-3
    if case == "zeros_in_p":
        p[1, 2, 6] = 0.0
        p = p / p.sum(-1, keepdim=True)
        p_hat[:, 1, 2, 6] = torch.tensor([0.0, -0.2])  # only where P = 0: finite
        p_hat[0, 1, 4, 6] = -0.1  # P > 0 there: +inf
    p_log_p = (torch.where(p > 0, p * p.log2(), 0.0)).sum(-1)  # Σ P log₂ P
    expected = _numpy_kl(np.broadcast_to(p.numpy(), p_hat.shape), p_hat.numpy())
    got = row_kl(p, p_hat.clone(), p_log_p, visible_positive(p, None)).numpy()
    assert np.array_equal(np.isinf(got), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-10, atol=1e-13)
    if case == "zeros_in_p":
        assert np.isfinite(got[:, 1, 2]).all() and np.isinf(got[0, 1, 4])


def test_visible_positive_ignores_hidden_entries():
    from explorer.reference.block_statistics import visible_positive

    p = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.0, 0.8], [1.0, 0.0, 0.0]])
    hidden = torch.tensor([[False, True], [False, False], [True, True]])  # keys 1.. (start 1)
    assert visible_positive(p, hidden, 1).tolist() == [True, False, True]  # key 2 of row 0 hidden
    assert visible_positive(p, None).tolist() == [False, False, False]
