"""Attention inputs: the user's Q/K/V, or synthetic ones drawn from a seed.

Synthetic Gaussian inputs (the Performer paper's setting): q, k entries iid N(0, σ²), v entries
iid N(0, 1). With x = q·d^(-1/4), E|x|² = σ²√d and E|x + y|² = 2σ²√d, the quantity that sets the
error of positive features (theory: relative MSE (e^{|x+y|²} − 1)/m). Draws use a CPU generator
in float64, so one seed gives the same numbers on every device.
Shapes: q (h, l, d), k (h, s, d), v (h, s, e).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.errors import InputError
from explorer.kernels.projections import seeded_generator


@dataclass(frozen=True, eq=False)
class AttentionInputs:
    """Q, K and (optionally) V of one layer, as numpy arrays, with tokens where known."""

    q: np.ndarray  # (h, l, d)
    k: np.ndarray  # (h, s, d)
    v: np.ndarray | None  # (h, s, e); None: only attention weights can be compared
    name: str = "inputs"
    query_tokens: tuple[str, ...] | None = None  # l labels
    key_tokens: tuple[str, ...] | None = None  # s labels

    def __post_init__(self) -> None:
        for label, array in (("q", self.q), ("k", self.k), ("v", self.v)):
            if array is None:
                continue
            if array.ndim != 3:
                raise InputError(f"{label} must have shape (heads, length, dim), got {array.shape}")
            if not np.issubdtype(array.dtype, np.floating):
                raise InputError(f"{label} must hold floating-point numbers, got {array.dtype}")
            bad = np.argwhere(~np.isfinite(array))
            if bad.size:
                where = tuple(int(i) for i in bad[0])
                raise InputError(f"{label} has a non-finite value (NaN/Inf) at index {where}")
        if self.q.shape[-1] != self.k.shape[-1]:
            raise InputError(
                f"q and k head dims differ: q {self.q.shape} vs k {self.k.shape} (last dim)"
            )
        if self.q.shape[0] != self.k.shape[0]:
            raise InputError(f"q and k head counts differ: q {self.q.shape} vs k {self.k.shape}")
        if self.v is not None and self.v.shape[:2] != self.k.shape[:2]:
            raise InputError(f"k and v heads/lengths differ: k {self.k.shape} vs v {self.v.shape}")
        for label, tokens, length in (
            ("query", self.query_tokens, self.q.shape[1]),
            ("key", self.key_tokens, self.k.shape[1]),
        ):
            if tokens is not None and len(tokens) != length:
                raise InputError(f"{len(tokens)} {label} tokens for length {length}")

    @property
    def num_heads(self) -> int:
        return self.q.shape[0]

    @property
    def head_dim(self) -> int:
        return self.q.shape[-1]


def gaussian_inputs(
    *,
    num_heads: int,
    seq_len: int,
    head_dim: int,
    input_scale: float,
    seed: int,
    key_len: int | None = None,
    value_dim: int | None = None,
) -> AttentionInputs:
    """q, k ~ N(0, σ²), v ~ N(0, 1), drawn in that order from one seeded CPU generator."""
    for label, value in (("num_heads", num_heads), ("seq_len", seq_len), ("head_dim", head_dim)):
        if value < 1:
            raise ValueError(f"{label} must be at least 1, got {value}")
    if not input_scale >= 0 or not np.isfinite(input_scale):
        raise ValueError(f"input_scale must be a finite number ≥ 0, got {input_scale}")
    key_len = seq_len if key_len is None else key_len
    value_dim = head_dim if value_dim is None else value_dim
    generator = seeded_generator(seed)

    def draw(*shape: int) -> np.ndarray:
        return torch.randn(*shape, generator=generator, dtype=torch.float64).numpy()

    q = draw(num_heads, seq_len, head_dim) * input_scale  # (h, l, d)
    k = draw(num_heads, key_len, head_dim) * input_scale  # (h, s, d)
    v = draw(num_heads, key_len, value_dim)  # (h, s, e)
    return AttentionInputs(q, k, v, name=f"gaussian σ={input_scale:g}")
