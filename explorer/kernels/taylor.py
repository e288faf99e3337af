"""Second-order Taylor features: φ(x)·φ(y) = 1 + x·y + (x·y)²/2, a deterministic substitute.

The softmax kernel's Taylor series exp(t) ≈ 1 + t + t²/2 at t = x·y (as in the "Based" /
polynomial linear attentions, e.g. Arora et al. 2024), with φ(x) = [1, x, vec(x ⊗ x)/√2]:
(x ⊗ x)·(y ⊗ y) = (x·y)². No W. Entries of x ⊗ x can be negative, so φ is signed, though every
kernel value 1 + t + t²/2 = ((1 + t)² + 1)/2 > 0 and so every normaliser is positive. Close to
exp(x·y) only for |x·y| ≲ 1 (error t³/6 + …); a reference/substitute, never unbiased.
Shapes: x (..., l, d) → φ(x) (..., l, 1 + d + d²).
"""

from __future__ import annotations

import math

import torch

Pair = tuple[torch.Tensor, torch.Tensor]


def taylor2_width(num_features: int, head_dim: int) -> int:
    """1 + d + d² features per vector, whatever m."""
    return 1 + head_dim + head_dim * head_dim


def _features(x: torch.Tensor) -> torch.Tensor:
    outer = (x.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2)  # (..., l, d, d) → (..., l, d²)
    ones = torch.ones_like(x[..., :1])  # (..., l, 1)
    return torch.cat([ones, x, outer * (1.0 / math.sqrt(2.0))], dim=-1)  # (..., l, 1 + d + d²)


def taylor2_features(x, y, w, *, stabilize: bool = True) -> Pair:
    """[1, x, vec(x ⊗ x)/√2] for queries and keys (deterministic, W unused)."""
    return _features(x), _features(y)
