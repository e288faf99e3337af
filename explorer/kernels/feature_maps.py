"""Feature maps φ with φ(x)·φ(y) ≈ exp(x·y), or a substitute kernel (one read-only registry).

Callers pass x = q·√scale and y = k·√scale (scale = 1/√d by default), so exp(x·y) is the softmax
kernel exp(q·k/√d) and the maps know nothing about attention. m counts the random vectors w_i
(rows of W); maps with two functions per vector (trig, hyperbolic) return 2m features.

Unbiased estimators of exp(x·y) (Performer, Choromanski et al. 2021, eq. 5 and Lemma 1; FAVOR++,
Likhosherstov et al. 2022):
  trig        exp(|x|²/2)/√m · [sin(Wx), cos(Wx)]           (signed: normalisers can be ≤ 0)
  positive    exp(Wx − |x|²/2)/√m                           (FAVOR+)
  hyperbolic  exp(−|x|²/2)/√(2m) · [exp(Wx), exp(−Wx)]
  oprf        D·exp(A|w|² + B·Wx − |x|²/2)/√m, B = √(1−4A), D = (1−4A)^(d/4), A = A* fitted
              from the data by the homogeneity heuristic (FAVOR++; A = 0 is FAVOR+)
Substitute kernels (not estimators of softmax): relu (Performer-ReLU, relu(Wx)/√m) and
elu_plus_one (elu(x)+1, Katharopoulos et al. 2020, deterministic).

Stabilisers: queries subtract their own row maximum of the exponent and keys one maximum over all
keys of a head. Both are constant factors of a query row's numerator and normaliser, so they
cancel exactly; no eps is ever added (an eps after the key shift biases the kernel).
Shapes: x (..., l, d), y (..., s, d), W (m, d) → φ(x) (..., l, m'), φ(y) (..., s, m').
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import torch
import torch.nn.functional as F

KernelKind = Literal["unbiased", "substitute"]
FeaturePair = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class FeatureMap:
    """One registry entry: how to build φ(x), φ(y) and what kernel they approximate."""

    name: str
    label: str
    kernel: KernelKind  # "unbiased": E[φ(x)·φ(y)] = exp(x·y); "substitute": another kernel
    uses_projection: bool  # False: deterministic, W is ignored
    features_per_vector: int  # features produced per row of W (trig, hyperbolic: 2)
    signed: bool  # features can be negative, so normalisers can be ≤ 0
    apply: Callable[..., FeaturePair]

    def feature_dim(self, num_features: int, head_dim: int) -> int:
        """Length m' of φ(x) for m random vectors (deterministic maps: their own width)."""
        if not self.uses_projection:
            return head_dim
        return num_features * self.features_per_vector

    def __call__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        projection: torch.Tensor | None,
        *,
        stabilize: bool = True,
    ) -> FeaturePair:
        if self.uses_projection and projection is None:
            raise ValueError(f"feature map {self.name!r} needs a projection W")
        if x.shape[-1] != y.shape[-1]:
            raise ValueError(f"query and key head dims differ: {x.shape[-1]} vs {y.shape[-1]}")
        return self.apply(x, y, projection, stabilize=stabilize)


def _query_shift(logits: torch.Tensor, stabilize: bool) -> torch.Tensor:
    """Per-row maximum of a query's exponents: (..., l, 1); cancels in the row normaliser."""
    if not stabilize:
        return torch.zeros_like(logits[..., :1])
    return logits.amax(dim=-1, keepdim=True)


def _key_shift(logits: torch.Tensor, stabilize: bool) -> torch.Tensor:
    """One maximum over all keys and features of a head: (..., 1, 1); a common factor."""
    if not stabilize:
        return torch.zeros_like(logits[..., :1, :1])
    return logits.amax(dim=(-2, -1), keepdim=True)


def _half_sq_norm(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x * x).sum(dim=-1, keepdim=True)  # (..., l, 1)


def _exp_features(logits_x: torch.Tensor, logits_y: torch.Tensor, norm: float, stabilize: bool):
    """exp(logits − shift)·norm, computed in place on the (fresh) logits: no l×m temporaries."""
    log_norm = math.log(norm)
    phi_x = logits_x.sub_(_query_shift(logits_x, stabilize) - log_norm).exp_()
    phi_y = logits_y.sub_(_key_shift(logits_y, stabilize) - log_norm).exp_()
    return phi_x, phi_y


def positive_features(x, y, w, *, stabilize: bool = True) -> FeaturePair:
    """FAVOR+: exp(Wx − |x|²/2)/√m (Performer Lemma 1)."""
    wx, wy = x @ w.T, y @ w.T  # (..., l, m), (..., s, m)
    norm = 1.0 / math.sqrt(w.shape[0])
    if not stabilize:  # with the row shift, a query's |x|²/2 cancels exactly: skip it
        wx -= _half_sq_norm(x)
    return _exp_features(wx, wy.sub_(_half_sq_norm(y)), norm, stabilize)


def hyperbolic_features(x, y, w, *, stabilize: bool = True) -> FeaturePair:
    """exp(−|x|²/2)/√(2m)·[exp(Wx), exp(−Wx)] (Performer eq. 5, SM^hyp+)."""
    wx, wy = x @ w.T, y @ w.T  # (..., l, m), (..., s, m)
    logits_x = torch.cat([wx, -wx], dim=-1) - _half_sq_norm(x)  # (..., l, 2m)
    logits_y = torch.cat([wy, -wy], dim=-1) - _half_sq_norm(y)  # (..., s, 2m)
    return _exp_features(logits_x, logits_y, 1.0 / math.sqrt(2 * w.shape[0]), stabilize)


def trig_features(x, y, w, *, stabilize: bool = True) -> FeaturePair:
    """exp(|x|²/2)/√m·[sin(Wx), cos(Wx)] (Performer eq. 5, SM^trig; Rahimi & Recht)."""
    wx, wy = x @ w.T, y @ w.T  # (..., l, m), (..., s, m)
    norm = 1.0 / math.sqrt(w.shape[0])
    log_hx, log_hy = _half_sq_norm(x), _half_sq_norm(y)  # (..., l, 1), (..., s, 1)
    if stabilize:
        log_hx = torch.zeros_like(log_hx)  # a per-query factor: drop it entirely
        log_hy = log_hy - log_hy.amax(dim=-2, keepdim=True)  # one factor for all keys
    phi_x = torch.cat([wx.sin(), wx.cos()], dim=-1) * (torch.exp(log_hx) * norm)
    phi_y = torch.cat([wy.sin(), wy.cos()], dim=-1) * (torch.exp(log_hy) * norm)
    return phi_x, phi_y


def optimal_oprf_a(mean_sq_sum: torch.Tensor, head_dim: int) -> torch.Tensor:
    """A* minimising the OPRF variance for ρ = mean |x_i + y_j|² (Likhosherstov et al. 2022).

    A* = (1 − 2φ − √((2φ + 1)² + 8φ)) / 16 with φ = ρ/d; A* ≤ 0, and A* = 0 when ρ = 0.
    """
    phi = mean_sq_sum / head_dim
    return (1.0 - 2.0 * phi - torch.sqrt((2.0 * phi + 1.0) ** 2 + 8.0 * phi)) / 16.0


def mean_pair_sq_sum(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over all pairs of |x_i + y_j|² in O((l + s)·d). Shapes: → (...)."""
    sq_x = (x * x).sum(-1).mean(-1)  # (...)
    sq_y = (y * y).sum(-1).mean(-1)  # (...)
    cross = (x.mean(-2) * y.mean(-2)).sum(-1)  # (...)
    return sq_x + sq_y + 2.0 * cross


def oprf_features(
    x, y, w, *, stabilize: bool = True, a: torch.Tensor | float | None = None
) -> FeaturePair:
    """FAVOR++ optimal positive features; A is fitted per head unless given."""
    d = x.shape[-1]
    if a is None:
        a = optimal_oprf_a(mean_pair_sq_sum(x, y), d)  # (...)
    a = torch.as_tensor(a, dtype=x.dtype, device=x.device)
    a = a.reshape(*a.shape, 1, 1)  # (..., 1, 1) broadcasts over rows and features
    b = torch.sqrt(1.0 - 4.0 * a)
    log_d = 0.25 * d * torch.log1p(-4.0 * a)  # log D, a per-head constant
    w_sq = (w * w).sum(-1)  # (m,)
    wx, wy = x @ w.T, y @ w.T  # (..., l, m), (..., s, m)
    logits_x = a * w_sq + b * wx - _half_sq_norm(x) + log_d
    logits_y = a * w_sq + b * wy - _half_sq_norm(y) + log_d
    return _exp_features(logits_x, logits_y, 1.0 / math.sqrt(w.shape[0]), stabilize)


def relu_features(x, y, w, *, stabilize: bool = True) -> FeaturePair:
    """Performer-ReLU generalized attention: relu(Wx)/√m (a substitute kernel)."""
    norm = 1.0 / math.sqrt(w.shape[0])
    return F.relu(x @ w.T) * norm, F.relu(y @ w.T) * norm


def elu_plus_one_features(x, y, w, *, stabilize: bool = True) -> FeaturePair:
    """elu(x) + 1 (Katharopoulos et al. 2020): deterministic linear attention, no W."""
    return F.elu(x) + 1.0, F.elu(y) + 1.0


FEATURE_MAPS: MappingProxyType[str, FeatureMap] = MappingProxyType(
    {
        "positive": FeatureMap(
            "positive", "Positive (FAVOR+)", "unbiased", True, 1, False, positive_features
        ),
        "trig": FeatureMap(
            "trig", "Trigonometric (sin/cos)", "unbiased", True, 2, True, trig_features
        ),
        "hyperbolic": FeatureMap(
            "hyperbolic", "Hyperbolic (exp(±w·x))", "unbiased", True, 2, False, hyperbolic_features
        ),
        "oprf": FeatureMap(
            "oprf", "Optimal positive (FAVOR++, OPRF)", "unbiased", True, 1, False, oprf_features
        ),
        "relu": FeatureMap(
            "relu", "ReLU (generalized, substitute)", "substitute", True, 1, False, relu_features
        ),
        "elu_plus_one": FeatureMap(
            "elu_plus_one",
            "elu+1 (linear attention, substitute)",
            "substitute",
            False,
            1,
            False,
            elu_plus_one_features,
        ),
    }
)


def get_feature_map(name: str) -> FeatureMap:
    """The registry entry for a name, or a ValueError listing the known names."""
    try:
        return FEATURE_MAPS[name]
    except KeyError:
        raise ValueError(
            f"unknown feature map {name!r}: use one of {', '.join(FEATURE_MAPS)}"
        ) from None
