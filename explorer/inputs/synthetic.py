"""Synthetic q, k, v that a teacher needs, each demonstrating one thing (v ~ N(0, 1) always).

gaussian   q, k ~ N(0, σ²): the Performer paper's setting; σ alone sets |x + y|².
aligned    k_j = σ·(a·ĝ_j + √(1−a²)·n_j) with ĝ_j = q_j/σ: each key leans towards its own query.
           Raising a raises |x_j + y_j|² and makes attention peaky (diagonal): where positive
           features degrade and where trig features win (Performer Fig. 2).
clustered  q and k near c shared centres (unit spread, noise 0.3): block-structured attention,
           as in heads that group tokens by type; errors concentrate inside the blocks.
low_rank   q = σ·Z_q B, k = σ·Z_k B with B (r, d) of orthonormal rows, scaled so E|q|² = σ²d:
           the kernel depends on r directions only, as in trained heads.
matched    Gaussian directions with the row norms of a reference (your upload): the norm
           profile alone, without its structure, so you can see how much of the error is norms.
Everything is drawn from the seed's own stream (``synthetic_data``; the control's from
``control_data``), in float64 on the CPU: the same numbers on every device, and never the
numbers of the random features.
Shapes: q (h, l, d), k (h_kv, s, d), v (h_kv, s, e); h_kv = h unless ``num_kv_heads``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np
import torch

from explorer.inputs.attention_inputs import AttentionInputs
from explorer.streams import stream

SyntheticKind = Literal["gaussian", "aligned", "clustered", "low_rank"]
SYNTHETIC_KINDS: tuple[str, ...] = get_args(SyntheticKind)
SYNTHETIC_LABELS = MappingProxyType(
    {
        "gaussian": "Gaussian: σ sets the difficulty",
        "aligned": "Aligned keys: peaky attention, large |x+y|",
        "clustered": "Clustered tokens: block-structured attention",
        "low_rank": "Low-rank Q/K: few directions matter",
    }
)


@dataclass(frozen=True, kw_only=True)
class SyntheticSpec:
    """What to draw: one kind, its sizes and parameters (``ExperimentConfig`` holds the defaults).

    Shapes: q (h, l, d), k (h, s, d), v (h, s, e); s = l and e = d when None.
    """

    kind: SyntheticKind
    num_heads: int
    seq_len: int
    head_dim: int
    input_scale: float
    seed: int
    num_kv_heads: int | None = None  # key/value heads (grouped-query), dividing h; None: h
    key_len: int | None = None
    value_dim: int | None = None
    alignment: float = 0.8  # aligned: how far each key leans to its query, in [0, 1]
    num_clusters: int = 4  # clustered: number of token groups
    rank: int = 4  # low_rank: directions that Q and K live in

    def __post_init__(self) -> None:
        if self.kind not in SYNTHETIC_KINDS:
            raise ValueError(
                f"unknown synthetic kind {self.kind!r}: use one of {', '.join(SYNTHETIC_KINDS)}"
            )
        sizes = ("num_heads", "seq_len", "head_dim", "num_clusters", "rank")
        for name in sizes + ("key_len", "value_dim"):
            value = getattr(self, name)
            if value is None and name not in sizes:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.input_scale) and self.input_scale >= 0):
            raise ValueError(f"input_scale must be a finite number ≥ 0, got {self.input_scale}")
        if self.num_kv_heads is not None and (
            self.num_kv_heads < 1 or self.num_heads % self.num_kv_heads
        ):
            raise ValueError(
                f"num_kv_heads = {self.num_kv_heads} must divide num_heads = {self.num_heads}"
            )
        if not 0.0 <= self.alignment <= 1.0:
            raise ValueError(f"alignment must be in [0, 1], got {self.alignment}")


def structured_inputs(spec: SyntheticSpec) -> AttentionInputs:
    """Inputs of one synthetic kind (see the module docstring for what each shows)."""
    g = stream("synthetic_data", spec.seed).generator()

    def draw(*shape: int) -> torch.Tensor:
        return torch.from_numpy(g.standard_normal(shape))  # float64

    h, l, d, sigma = spec.num_heads, spec.seq_len, spec.head_dim, spec.input_scale
    hk = h if spec.num_kv_heads is None else spec.num_kv_heads  # key/value heads
    group = h // hk  # query heads per key head
    s = l if spec.key_len is None else spec.key_len
    e = d if spec.value_dim is None else spec.value_dim
    if spec.kind == "gaussian":
        q, k = draw(h, l, d), draw(hk, s, d)  # (h, l, d), (h_kv, s, d) in units of σ
        name = f"gaussian σ={sigma:g}"
    elif spec.kind == "aligned":
        a = spec.alignment
        q = draw(h, l, d)  # (h, l, d) in units of σ
        partner = q[::group, torch.arange(s) % l]  # (h_kv, s, d): key j leans to query j mod l
        k = a * partner + math.sqrt(1.0 - a**2) * draw(hk, s, d)  # (of its group's first head)
        name = f"aligned keys a={a:g}, σ={sigma:g}"
    elif spec.kind == "clustered":
        c = spec.num_clusters
        centres = draw(hk, c, d)  # (h_kv, c, d): a group's queries share its keys' centres
        around = centres.repeat_interleave(group, dim=0)  # (h, c, d)
        q = around[:, torch.from_numpy(g.integers(c, size=l))] + 0.3 * draw(h, l, d)
        k = centres[:, torch.from_numpy(g.integers(c, size=s))] + 0.3 * draw(hk, s, d)
        name = f"{c} clusters, σ={sigma:g}"
    else:
        r = min(spec.rank, d)
        basis, _ = torch.linalg.qr(draw(d, r))  # (d, r) orthonormal columns
        lift = basis.T * math.sqrt(d / r)  # (r, d): keeps E|q|² = d
        q, k = draw(h, l, r) @ lift, draw(hk, s, r) @ lift  # (h, l, d), (h_kv, s, d)
        name = f"rank {r} Q/K, σ={sigma:g}"
    if group > 1:
        name += f", {hk} key heads"
    v = draw(hk, s, e)  # (h_kv, s, e)
    return AttentionInputs((q * sigma).numpy(), (k * sigma).numpy(), v.numpy(), name=name)


def matched_inputs(reference: AttentionInputs, *, seed: int) -> AttentionInputs:
    """Random directions with the reference's exact q and k row norms (and its V, if any)."""
    g = stream("control_data", seed).generator()

    def with_norms(array: np.ndarray) -> np.ndarray:
        directions = g.standard_normal(array.shape)  # (h, n, d)
        directions /= np.linalg.norm(directions, axis=-1, keepdims=True)  # unit rows
        return directions * np.linalg.norm(array, axis=-1, keepdims=True)  # (h, n, d)

    v = None
    if reference.v is not None:
        v = g.standard_normal(reference.v.shape) * reference.v.std()  # same scale, no structure
    return AttentionInputs(
        with_norms(reference.q),
        with_norms(reference.k),
        v,
        name=f"norms matched to {reference.name}",
        query_tokens=reference.query_tokens,
        key_tokens=reference.key_tokens,
    )
