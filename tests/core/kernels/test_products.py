"""x·Wᵀ shared inside a scope: computed once, equal to the plain product, never leaked."""

from __future__ import annotations

import torch

from explorer.kernels import products
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.products import project, shared_products


def test_shared_products_are_computed_once_and_equal_plain_products(monkeypatch):
    g = torch.Generator().manual_seed(1)
    x, y, w = (
        torch.randn(2, 7, 4, generator=g),
        torch.randn(2, 5, 4, generator=g),
        torch.randn(6, 4, generator=g),
    )
    plain = {
        name: get_feature_map(name)(x, y, w) for name in ("positive", "hyperbolic", "oprf", "trig")
    }
    with shared_products():
        first = project(x, w)
        assert project(x, w).data_ptr() == first.data_ptr()  # the same product, not a second
        rows = torch.tensor([1, 4])
        assert torch.equal(project(x, w, rows), first[:, rows])
        for name, ref in plain.items():  # every map reads the products, none writes them
            got = get_feature_map(name)(x, y, w)
            torch.testing.assert_close(got.query, ref.query, rtol=1e-6, atol=0)
            torch.testing.assert_close(got.key, ref.key, rtol=1e-6, atol=0)
        assert torch.equal(project(x, w), x @ w.T)  # unchanged after all of them
        x.mul_(2.0)  # changed in place: a new version, a new product
        assert torch.equal(project(x, w), x @ w.T)
    assert products._SHARED.get() is None  # the scope is gone


def test_products_over_the_size_limit_are_not_kept(monkeypatch):
    monkeypatch.setattr(products, "SHARED_BYTES", 16)
    x, w = torch.ones(3, 4), torch.ones(5, 4)
    with shared_products():
        assert project(x, w).data_ptr() != project(x, w).data_ptr()
