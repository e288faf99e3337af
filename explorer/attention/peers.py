"""Linear attention as the peers normalise it: Ŷ_i = N_i / D'_i with their eps in D' only.

The features' own eps (``kernels.recipes``) is already inside φ, so it enters numerator and
normaliser alike; this adds what the peers add to the normaliser alone:
  fast-transformers    D' = D + 10⁻⁶ (``LinearAttention``, ``CausalLinearAttention``)
  performer-pytorch    causal: D'_i = φ(x_i)·(Σ_{j≤i} φ(y_j) + 10⁻⁶·1) = D_i + 10⁻⁶ Σ_r φ(x_i)_r
  google-research      D' = D + 2g·[|D| ≤ g], g = 10⁻⁶ (the renormalisation guard)
N = Ŷ·D is unchanged, so Ŷ' = Ŷ·D/D'. Shapes: φ (..., l, m'), v (..., s, e) → (..., l, e).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from explorer.attention.linear import DEFAULT_CHUNK, LinearAttention, linear_attention
from explorer.kernels.feature_maps import Features
from explorer.kernels.recipes import Recipe


def peer_attention(
    recipe: Recipe,
    features: Features,
    v: torch.Tensor,
    *,
    causal: bool = False,
    window: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> LinearAttention:
    """``linear_attention`` with the recipe's normaliser eps. Shapes: → (..., l, e)."""
    if window is not None:
        raise ValueError(f"the {recipe.name} recipe has no sliding window: use window 0")
    result = linear_attention(features, v, causal=causal, chunk_size=chunk_size)
    normalizer = result.normalizer  # (..., l)
    adjusted = normalizer + recipe.normalizer_eps
    if causal and recipe.causal_key_eps:
        adjusted = adjusted + recipe.causal_key_eps * features.query.sum(-1)
    if recipe.normalizer_guard:
        guard = recipe.normalizer_guard
        adjusted = adjusted + 2.0 * guard * (adjusted.abs() <= guard).to(adjusted.dtype)
    output = result.output * (normalizer / adjusted).unsqueeze(-1)  # (..., l, e)
    return replace(result, output=output, normalizer=adjusted)
