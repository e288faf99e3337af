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
Everything is drawn from one seeded CPU generator in float64 (same numbers on every device).
Shapes: q (h, l, d), k (h, s, d), v (h, s, e).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np
import torch

from explorer.inputs.attention_inputs import AttentionInputs, gaussian_inputs
from explorer.kernels.projections import seeded_generator

SyntheticKind = Literal["gaussian", "aligned", "clustered", "low_rank"]
SYNTHETIC_KINDS: tuple[str, ...] = get_args(SyntheticKind)
SYNTHETIC_LABELS = {
    "gaussian": "Gaussian: σ sets the difficulty",
    "aligned": "Aligned keys: peaky attention, large |x+y|",
    "clustered": "Clustered tokens: block-structured attention",
    "low_rank": "Low-rank Q/K: few directions matter",
}


def structured_inputs(
    kind: str,
    *,
    num_heads: int,
    seq_len: int,
    head_dim: int,
    input_scale: float,
    seed: int,
    key_len: int | None = None,
    value_dim: int | None = None,
    alignment: float = 0.8,
    num_clusters: int = 4,
    rank: int = 4,
) -> AttentionInputs:
    """Inputs of one synthetic kind (see the module docstring for what each shows)."""
    if kind == "gaussian":
        return gaussian_inputs(
            num_heads=num_heads,
            seq_len=seq_len,
            head_dim=head_dim,
            input_scale=input_scale,
            seed=seed,
            key_len=key_len,
            value_dim=value_dim,
        )
    if kind not in SYNTHETIC_KINDS:
        raise ValueError(
            f"unknown synthetic kind {kind!r}: use one of {', '.join(SYNTHETIC_KINDS)}"
        )
    if not 0.0 <= alignment <= 1.0:
        raise ValueError(f"alignment must be in [0, 1], got {alignment}")
    if num_clusters < 1 or rank < 1:
        raise ValueError("num_clusters and rank must be at least 1")
    key_len = seq_len if key_len is None else key_len
    value_dim = head_dim if value_dim is None else value_dim
    g = seeded_generator(seed)

    def draw(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    h, l, s, d = num_heads, seq_len, key_len, head_dim
    if kind == "aligned":
        q = draw(h, l, d)  # (h, l, d) in units of σ
        partner = q[:, torch.arange(s) % l]  # (h, s, d): key j leans to query j mod l
        k = alignment * partner + math.sqrt(1.0 - alignment**2) * draw(h, s, d)
        name = f"aligned keys a={alignment:g}, σ={input_scale:g}"
    elif kind == "clustered":
        centres = draw(h, num_clusters, d)  # (h, c, d)
        q = centres[:, torch.randint(0, num_clusters, (l,), generator=g)] + 0.3 * draw(h, l, d)
        k = centres[:, torch.randint(0, num_clusters, (s,), generator=g)] + 0.3 * draw(h, s, d)
        name = f"{num_clusters} clusters, σ={input_scale:g}"
    else:
        r = min(rank, d)
        basis, _ = torch.linalg.qr(draw(d, r))  # (d, r) orthonormal columns
        lift = basis.T * math.sqrt(d / r)  # (r, d): keeps E|q|² = d
        q, k = draw(h, l, r) @ lift, draw(h, s, r) @ lift  # (h, l, d), (h, s, d)
        name = f"rank {r} Q/K, σ={input_scale:g}"
    v = draw(h, s, value_dim)  # (h, s, e)
    return AttentionInputs(
        (q * input_scale).numpy(), (k * input_scale).numpy(), v.numpy(), name=name
    )


def matched_inputs(reference: AttentionInputs, *, seed: int) -> AttentionInputs:
    """Random directions with the reference's exact q and k row norms (and its V, if any)."""
    g = seeded_generator(seed)

    def with_norms(array: np.ndarray) -> np.ndarray:
        directions = torch.randn(*array.shape, generator=g, dtype=torch.float64)
        directions = directions / directions.norm(dim=-1, keepdim=True)  # (h, n, d) unit rows
        norms = np.linalg.norm(array, axis=-1, keepdims=True)  # (h, n, 1)
        return directions.numpy() * norms

    v = None
    if reference.v is not None:
        v = torch.randn(*reference.v.shape, generator=g, dtype=torch.float64).numpy()
        v *= reference.v.std()  # same overall value scale, no structure
    return AttentionInputs(
        with_norms(reference.q),
        with_norms(reference.k),
        v,
        name=f"norms matched to {reference.name}",
        query_tokens=reference.query_tokens,
        key_tokens=reference.key_tokens,
    )
