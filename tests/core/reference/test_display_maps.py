"""Display maps: pooled exactly like a manual block average, in row blocks of any size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.attention.exact import exact_weights
from explorer.attention.linear import approximate_weights
from explorer.kernels.feature_maps import Features, get_feature_map
from explorer.kernels.projections import draw_projection
from explorer.reference.display_maps import attention_maps
from explorer.reference.fused_pass import PassOptions
from explorer.streams import stream
from tests.conftest import gaussian


@pytest.mark.parametrize("budget", [1000, 10**9])  # many row blocks, or one
@pytest.mark.parametrize("causal", [False, True])
def test_pooling_equals_manual_block_means(budget, causal):
    g = torch.Generator().manual_seed(41)
    x, y = gaussian(2, 50, 4, generator=g), gaussian(2, 37, 4, generator=g)
    w = draw_projection("iid", 8, 4, stream=stream("features", 0))
    features = get_feature_map("trig")(x, y, w)
    maps = attention_maps(
        x, y, features, PassOptions(causal=causal, max_side=8, memory_budget=budget)
    )
    assert maps.pool == (7, 5) and maps.exact.shape == (2, 8, 8)
    for full, pooled in (
        (exact_weights(x, y, causal=causal, scale=1.0), maps.exact),
        (approximate_weights(features, causal=causal), maps.approx),
    ):
        full = full.numpy()
        manual = np.zeros((2, 8, 8))
        for i in range(8):
            for j in range(8):
                manual[:, i, j] = full[:, i * 7 : (i + 1) * 7, j * 5 : (j + 1) * 5].mean((1, 2))
        np.testing.assert_allclose(pooled, manual, atol=1e-6)  # float32 maps
    negative = int((approximate_weights(features, causal=causal) < 0).sum())
    assert maps.negative_entries == negative


def test_small_maps_are_not_pooled():
    g = torch.Generator().manual_seed(42)
    x = gaussian(1, 20, 4, generator=g)
    maps = attention_maps(x, x, Features(x.exp(), x.exp(), signed=False), PassOptions())
    assert maps.pool == (1, 1)
    np.testing.assert_allclose(maps.exact, exact_weights(x, x, scale=1.0).float().numpy())
