"""Second-order Taylor features against the explicit formula 1 + x·y + (x·y)²/2."""

from __future__ import annotations

import torch

from explorer.attention.linear import linear_attention
from explorer.kernels.estimates import estimated_kernel
from explorer.kernels.feature_maps import FEATURE_MAPS
from tests.conftest import gaussian


def test_registered_as_a_deterministic_signed_substitute():
    fmap = FEATURE_MAPS["taylor2"]
    assert fmap.kernel == "substitute" and not fmap.uses_projection and fmap.signed
    assert fmap.feature_dim(256, 8) == 1 + 8 + 64
    assert not estimated_kernel("taylor2", "iid").unbiased_for_softmax
    assert "1 + x·y + (x·y)²/2" in estimated_kernel("taylor2", "orthogonal").formula


def test_kernel_is_the_explicit_second_order_series():
    g = torch.Generator().manual_seed(3)
    x, y = gaussian(2, 3, 7, 5, generator=g), gaussian(2, 1, 9, 5, generator=g)  # grouped heads
    features = FEATURE_MAPS["taylor2"](x, y, None)
    assert features.query.shape == (2, 3, 7, 31) and features.key.shape == (2, 1, 9, 31)
    t = x @ y.transpose(-2, -1)  # (2, 3, 7, 9)
    kernel = features.query @ features.key.transpose(-2, -1)
    torch.testing.assert_close(kernel, 1 + t + t * t / 2)
    assert (features.query < 0).any()  # signed entries ...
    assert (kernel > 0).all()  # ... but ((1 + t)² + 1)/2 > 0


def test_attention_matches_explicit_weights():
    g = torch.Generator().manual_seed(4)
    x, y = gaussian(6, 4, generator=g, scale=0.5), gaussian(8, 4, generator=g, scale=0.5)
    v = gaussian(8, 3, generator=g)
    t = x @ y.T
    weights = 1 + t + t * t / 2
    for causal in (False, True):
        if causal:
            weights = weights.tril()
        expected = (weights / weights.sum(-1, keepdim=True)) @ v
        out = linear_attention(FEATURE_MAPS["taylor2"](x, y, None), v, causal=causal)
        torch.testing.assert_close(out.output, expected)
        assert out.negative_rows == 0 and out.small_rows == 0
