"""Attention inputs: Q, K and (optionally) V of one layer, validated, as numpy arrays.

Whatever their source (``synthetic``, ``capture``, ``uploads``), inputs are finite float arrays
with one head axis first. Keys and values may have fewer heads than queries (grouped-query
attention): query head i uses key/value head i // (h / h_kv), as SDPA's ``enable_gqa`` and
transformers' ``repeat_kv`` do; nothing is repeated. A capture also says how the model itself
computed softmax: its scale, causal mask, sliding window and logit soft-cap (None: not known,
so the standard 1/√d, no mask, no window, no cap apply unless the settings say otherwise).
Shapes: q (h, l, d), k (h_kv, s, d), v (h_kv, s, e).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, replace

import numpy as np

from explorer.errors import InputError


@dataclass(frozen=True, eq=False)
class AttentionInputs:
    """Q, K and (optionally) V of one layer, as numpy arrays, with tokens where known."""

    q: np.ndarray  # (h, l, d)
    k: np.ndarray  # (h_kv, s, d), h divisible by h_kv
    v: np.ndarray | None  # (h_kv, s, e); None: only attention weights can be compared
    _: KW_ONLY
    name: str = "inputs"
    query_tokens: tuple[str, ...] | None = None  # l labels
    key_tokens: tuple[str, ...] | None = None  # s labels
    softmax_scale: float | None = None  # the model's own scale of q·k (None: not known)
    causal: bool | None = None  # the model's own causal mask (None: not known)
    window: int | None = None  # the model's sliding window of this layer (None: none)
    softcap: float | None = None  # the model's logit soft-cap c·tanh(t/c) (None: none)

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
        if self.q.shape[0] % self.k.shape[0]:
            raise InputError(
                f"q has {self.q.shape[0]} heads and k {self.k.shape[0]}: the key heads must "
                f"divide the query heads (grouped-query attention); q {self.q.shape}, "
                f"k {self.k.shape}"
            )
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
    def num_kv_heads(self) -> int:
        return self.k.shape[0]

    @property
    def group(self) -> int:
        """Query heads per key/value head (1 without grouped-query attention)."""
        return self.q.shape[0] // self.k.shape[0]

    def head(self, index: int) -> AttentionInputs:
        """Query head ``index`` with its key/value head: (1, l, d), (1, s, d), (1, s, e)."""
        if not 0 <= index < self.num_heads:
            raise InputError(f"head {index} does not exist: the data has {self.num_heads} heads")
        kv = index // self.group
        return replace(
            self,
            q=self.q[index : index + 1],
            k=self.k[kv : kv + 1],
            v=None if self.v is None else self.v[kv : kv + 1],
            name=f"{self.name}, head {index}",
        )

    @property
    def head_dim(self) -> int:
        return self.q.shape[-1]
