"""Which columns of φ of W (M rows) make φ of W[:m], for the nested report cells.

A nested map's φ of W[:m] is ``FeatureMap.columns(m, M)`` of φ of W up to factors that cancel
in P̂ (``report_nested``): one block of m columns per function of the map ([f(Wx) | g(Wx)] for
trig and hyperbolic). ``column_steps`` are the columns each m of a grid adds to the one before it;
``prefix_order`` reorders the columns so that every m's are a prefix (a view each, where linear
attention needs m's φ as a tensor of its own); the per-step reductions give each m's row
norms, maxima and minima without m's φ. Shapes: φ (n, t, M') for t rows → (g, n, t) per m.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from explorer.kernels.feature_maps import FeatureMap, Features


def prefix_order(fmap: FeatureMap, ms: list[int], total: int) -> list[slice] | None:
    """Column blocks of φ of W (``total`` rows), in the order that puts every m's columns first.

    Laid out in this order, φ of W[:m] is the prefix of m' columns for each m of ``ms``
    (ascending): the columns m adds are one slice, and no m needs a concatenated copy. None:
    already so (maps of one function per vector).
    """
    if fmap.features_per_vector == 1:
        return None
    blocks, before = [], 0
    for m in [*ms, total] if ms[-1] < total else ms:
        blocks += [slice(c.start + before, c.stop) for c in fmap.columns(m, total)]
        before = m
    return blocks


def in_order(t: torch.Tensor, blocks: list[slice]) -> torch.Tensor:
    """The column ``blocks`` of t side by side: slice copies (a gather on the last axis is
    several times slower). (..., M') → (..., M')"""
    out = torch.empty_like(t)
    at = 0
    for block in blocks:
        width = block.stop - block.start
        out[..., at : at + width] = t[..., block]
        at += width
    return out


def columns_of(features: Features, pick: Callable[[torch.Tensor], torch.Tensor]) -> Features:
    """``pick`` applied to the columns of φ(x), φ(y) and of their exponents, when asked for."""
    logits = None
    if features.exponential:

        def logits(rows):
            return tuple(pick(t) for t in features.logits(rows))

    return Features(pick(features.query), pick(features.key), signed=features.signed,
                    logits=logits)  # fmt: skip


def reordered(features: Features, blocks: list[slice] | None) -> Features:
    """``features`` with their columns (and exponents) in ``prefix_order``."""
    return features if blocks is None else columns_of(features, lambda t: in_order(t, blocks))


def take(t: torch.Tensor, cols: tuple[slice, ...]) -> torch.Tensor:
    """The columns of m: one view, or (rare paths only) a concatenation of its blocks."""
    return t[..., cols[0]] if len(cols) == 1 else torch.cat([t[..., c] for c in cols], -1)


def subset(features: Features, cols: tuple[slice, ...]) -> Features:
    """φ of W[:m] (up to cancelling factors) as a ``Features`` of its own."""
    return columns_of(features, lambda t: take(t, cols))


def column_steps(cols: list[tuple[slice, ...]]) -> list[tuple[slice, ...]]:
    """The columns each m adds to the one before it (``cols`` of every m, ascending)."""
    before = [slice(c.start, c.start) for c in cols[0]]
    steps = []
    for now in cols:
        steps.append(tuple(slice(b.stop, c.stop) for b, c in zip(before, now, strict=True)))
        before = now
    return steps


def per_step(t: torch.Tensor, steps: list[tuple[slice, ...]], reduce) -> list[list]:
    """``reduce`` of the columns each m adds, part by part. (n, t, M') → [step][part]"""
    return [[reduce(t[..., c]) for c in step] for step in steps]


def step_squares(t: torch.Tensor, steps: list[tuple[slice, ...]]) -> torch.Tensor:
    """Σ t² over each m's columns (cumulative in m). (n, t, M') → (g, n, t)"""
    parts = per_step(t, steps, lambda c: torch.linalg.vector_norm(c, dim=-1).square_())
    return torch.stack([sum(p) for p in parts]).cumsum(0)


def step_extremes(t: torch.Tensor, steps: list[tuple[slice, ...]]):
    """max and min of t over each m's columns (cumulative in m). → (g, n, t) each

    Two reductions, not ``torch.aminmax``: on column slices that is ~15× slower on a CPU.
    """
    high = per_step(t, steps, lambda c: c.amax(-1))
    low = per_step(t, steps, lambda c: c.amin(-1))
    high = torch.stack([torch.stack(step).amax(0) for step in high])
    low = torch.stack([torch.stack(step).amin(0) for step in low])
    return high.cummax(0).values, low.cummin(0).values
