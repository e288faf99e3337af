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
