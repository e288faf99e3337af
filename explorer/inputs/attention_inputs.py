"""Attention inputs: Q, K and (optionally) V of one layer, validated, as numpy arrays.

Whatever their source (``synthetic``, ``capture``, ``uploads``), inputs are finite float arrays
with one head axis first. Shapes: q (h, l, d), k (h, s, d), v (h, s, e).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

import numpy as np

from explorer.errors import InputError


@dataclass(frozen=True, eq=False)
class AttentionInputs:
    """Q, K and (optionally) V of one layer, as numpy arrays, with tokens where known."""

    q: np.ndarray  # (h, l, d)
    k: np.ndarray  # (h, s, d)
    v: np.ndarray | None  # (h, s, e); None: only attention weights can be compared
    _: KW_ONLY
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
