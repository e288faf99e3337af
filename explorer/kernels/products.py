"""The projections t·Wᵀ behind every random feature map, shared within a scope.

Positive, hyperbolic, OPRF and trig features of one seed all start from x·Wᵀ and y·Wᵀ with
the same x, y and W (Performer eq. 5). Inside ``shared_products()`` each (t, W) pair is
multiplied once and the product reused (a report unit runs every map of a seed on them), up
to ``SHARED_BYTES`` a product; outside it ``project`` is a plain product. Products are
read-only: callers never modify them. The cache is per context (``contextvars``), so
concurrent sessions never see each other's.
Shapes: t (..., l, d), W (m, d) → (..., l, m).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

_SHARED: ContextVar[dict | None] = ContextVar("shared_products", default=None)
SHARED_BYTES = 16 * 2**20  # larger products are recomputed: at long L the l×s work dwarfs them


@contextmanager
def shared_products() -> Iterator[None]:
    """Within the block, ``project`` computes each (t, W) product once."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def project(t: torch.Tensor, w: torch.Tensor, rows=slice(None)) -> torch.Tensor:
    """t[rows]·Wᵀ: a shared product when a ``shared_products`` scope holds one (read-only)."""
    cache = _SHARED.get()
    if cache is None:
        return t[..., rows, :] @ w.T
    # identity and version: a tensor changed in place, or a new one, is a new key; the entry
    # holds t and W, so their ids cannot be reused while it lives
    key = (id(t), t._version, id(w), w._version)
    entry = cache.get(key)
    if entry is None:
        product_bytes = t[..., 0].numel() * w.shape[0] * t.element_size()
        if product_bytes > SHARED_BYTES:
            return t[..., rows, :] @ w.T
        entry = cache[key] = (t, w, t @ w.T)
    return entry[2][..., rows, :]
