"""Feature maps φ with φ(x)·φ(y) ≈ exp(x·y), or a substitute kernel (one read-only registry).

Callers pass x = q·√scale and y = k·√scale (scale = 1/√d by default), so exp(x·y) is the softmax
kernel exp(q·k/√d) and the maps know nothing about attention. m counts the random vectors w_i
(rows of W); maps with two functions per vector (trig, hyperbolic) return 2m features.

Estimators of exp(x·y) when the rows of W are N(0, I_d) (Performer, Choromanski et al. 2021,
eq. 5 and Lemma 1; FAVOR++, Likhosherstov et al. 2022); ``kernels.estimates`` says what each
estimates under each projection:
  trig        exp(|x|²/2)/√m · [sin(Wx), cos(Wx)]           (signed: normalisers can be ≤ 0)
  positive    exp(Wx − |x|²/2)/√m                           (FAVOR+)
  hyperbolic  exp(−|x|²/2)/√(2m) · [exp(Wx), exp(−Wx)]
  oprf        D·exp(A|w|² + B·Wx − |x|²/2)/√m, B = √(1−4A), D = (1−4A)^(d/4), A = A* fitted
              from the data by the homogeneity heuristic (FAVOR++; A = 0 is FAVOR+)
  saderf      oprf of x' = Ψx, y' = Ψ⁻¹y, Ψ diagonal fitted so that |x'| and |y'| balance
              (FAVOR#, SADERF, Likhosherstov et al. 2023; x'·y' = x·y)
  hybrid      λ̂·positive + (1 − λ̂)·trig, λ̂ from sign features of other rows of W, E λ̂ = θ/π
              (angular HRF, Choromanski et al. 2022; 6 features per base row, see ``hybrid``)
Substitute kernels (not estimators of softmax): relu (Performer-ReLU, relu(Wx)/√m) and
elu_plus_one (elu(x)+1, Katharopoulos et al. 2020, deterministic), taylor2 ([1, x, x⊗x/√2]:
1 + x·y + (x·y)²/2, deterministic, signed entries but a positive kernel) and hedgehog
([softmax(Ax + b), softmax(−Ax − b)], A and b fitted to the head's attention on its even query
rows, ``learned``; every metric of it covers the held-out odd rows, ``FeatureMap.held_out``).

Stabilisers of the exponential maps (φ = exp(ℓ)): keys subtract, per feature r, the maximum
c_r of ℓ_r over the keys of a head, and queries add c_r back before subtracting their own row
maximum b_i. φ(x_i)_r φ(y_j)_r is then e^{−b_i} times the true product: a per-query factor that
cancels exactly in the normaliser, and the query's best pair contributes e⁰·e⁰ = 1, so a
non-causal normaliser is never below 1: it cannot underflow, whatever the norms. No eps is ever
added (an eps after a shift biases the kernel). Trig drops the per-query factor e^{|x|²/2} and
scales keys by one maximum. ``Features.logits`` gives the stabilised exponents of chosen rows,
for the rows that must be recomputed in the log domain (``attention.log_domain``).
Shapes: x (..., l, d), y (..., s, d), W (m, d) → φ(x) (..., l, m'), φ(y) (..., s, m').
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from types import MappingProxyType
from typing import Literal

import torch

from explorer.kernels.exponential import (
    hyperbolic_exponent,
    oprf_exponent,
    positive_exponent,
)
from explorer.kernels.hybrid import hybrid_features, hybrid_width
from explorer.kernels.learned import FitReport, fit_map, held_out_rows
from explorer.kernels.saderf import saderf_exponent
from explorer.kernels.substitutes import elu_plus_one_features, relu_features
from explorer.kernels.taylor import taylor2_features, taylor2_width
from explorer.kernels.trigonometric import trig_features

KernelKind = Literal["unbiased", "substitute"]
Pair = tuple[torch.Tensor, torch.Tensor]
ExponentFn = Callable[..., Pair]  # (x, y, w, *, rows) → (ℓx[rows], ℓy): φ = exp(ℓ)
DirectFn = Callable[..., Pair]  # (x, y, w, *, stabilize) → (φx, φy)
FitFn = Callable[..., tuple[Pair, FitReport]]  # (x, y, w) → (φx, φy), how the fit went
RowIndex = torch.Tensor | slice | None


@dataclass(frozen=True, eq=False)
class Features:
    """φ(x), φ(y) of one call, and (exponential maps) their stabilised exponents on demand."""

    query: torch.Tensor  # (..., l, m'): φ(x) times a per-query factor (cancels)
    key: torch.Tensor  # (..., s, m')
    _: KW_ONLY
    signed: bool  # entries can be negative: normalisers can be ≤ 0 or cancel to ≈ 0
    logits: Callable[[RowIndex], Pair] | None = None  # rows → (ℓ'x[rows], ℓ'y), φ = exp(ℓ')
    fit: FitReport | None = None  # maps fitted to the head: how, and on which rows

    @property
    def exponential(self) -> bool:
        return self.logits is not None


@dataclass(frozen=True, kw_only=True)
class FeatureMap:
    """One registry entry: how to build φ(x), φ(y) and what kernel they approximate."""

    name: str
    label: str
    kernel: KernelKind  # "unbiased" for exp(x·y) with Gaussian rows; "substitute": another kernel
    uses_projection: bool  # False: deterministic, W is ignored
    features_per_vector: int  # features produced per row of W (trig, hyperbolic: 2)
    signed: bool  # features can be negative, so normalisers can be ≤ 0
    exponent: ExponentFn | None = None  # exponential maps: φ = exp(exponent)
    direct: DirectFn | None = None  # every other map
    fit: FitFn | None = None  # maps trained on the head (W: their initialisation)
    width: Callable[[int, int], int] | None = None  # (m, d) → m' where it is not the default
    fits_to_inputs: bool = False  # depends on every query and key (A*, Ψ, a fit): not causal
    nested: bool = False  # φ of W[:m] is ``columns`` of φ of W, up to factors that cancel

    def __post_init__(self) -> None:
        if sum(f is not None for f in (self.exponent, self.direct, self.fit)) != 1:
            raise ValueError(
                f"feature map {self.name!r} needs exactly one of exponent, direct, fit"
            )

    def held_out(self, num_rows: int) -> torch.Tensor | None:
        """The sorted query rows every metric of a fitted map covers; None: every row."""
        return None if self.fit is None else held_out_rows(num_rows)

    def columns(self, num_features: int, total: int) -> tuple[slice, ...]:
        """Where φ of W[:m] sits in φ of W (``total`` rows): its blocks of m columns each.

        For ``nested`` maps only: φ of W[:m] equals these columns up to a positive factor per
        query row (the stabiliser's row maximum), one per key set and 1/√m, all of which cancel
        in P̂ = K/D; a map of f(Wx) and g(Wx) lays out [f(Wx) | g(Wx)].
        """
        if not self.nested:
            raise ValueError(f"feature map {self.name!r} is not nested in m")
        if not 0 < num_features <= total:
            raise ValueError(f"num_features must be in 1..{total}, got {num_features}")
        return tuple(
            slice(part * total, part * total + num_features)
            for part in range(self.features_per_vector)
        )

    def feature_dim(self, num_features: int, head_dim: int) -> int:
        """Length m' of φ(x) for m random vectors (deterministic maps: their own width)."""
        if self.width is not None:
            return self.width(num_features, head_dim)
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
    ) -> Features:
        if self.uses_projection and projection is None:
            raise ValueError(f"feature map {self.name!r} needs a projection W")
        if x.shape[-1] != y.shape[-1]:
            raise ValueError(f"query and key head dims differ: {x.shape[-1]} vs {y.shape[-1]}")
        if self.direct is not None:
            phi_x, phi_y = self.direct(x, y, projection, stabilize=stabilize)
            return Features(phi_x, phi_y, signed=self.signed)
        if self.fit is not None:
            (phi_x, phi_y), report = self.fit(x, y, projection)
            return Features(phi_x, phi_y, signed=self.signed, fit=report)
        exponent = self.exponent
        log_x, log_y = exponent(x, y, projection, rows=slice(None))  # (..., l|s, m')
        if not stabilize:
            return Features(log_x.exp_(), log_y.exp_(), signed=self.signed)
        key_max = log_y.amax(dim=-2, keepdim=True)  # (..., 1, m'): c_r per feature
        log_x.add_(key_max)
        row_max = log_x.amax(dim=-1, keepdim=True)  # (..., l, 1): b_i per query
        phi_x = log_x.sub_(row_max).exp_()  # in place: no l×m' temporaries
        phi_y = log_y.sub_(key_max).exp_()

        def logits(rows: RowIndex) -> Pair:
            index = slice(None) if rows is None else rows
            lx, ly = exponent(x, y, projection, rows=index)
            return lx + key_max - row_max[..., index, :], ly - key_max

        return Features(phi_x, phi_y, signed=self.signed, logits=logits)


FEATURE_MAPS: MappingProxyType[str, FeatureMap] = MappingProxyType(
    {
        "positive": FeatureMap(
            name="positive",
            label="Positive (FAVOR+)",
            kernel="unbiased",
            uses_projection=True,
            features_per_vector=1,
            signed=False,
            exponent=positive_exponent,
            nested=True,
        ),
        "trig": FeatureMap(
            name="trig",
            label="Trigonometric (sin/cos)",
            kernel="unbiased",
            uses_projection=True,
            features_per_vector=2,
            signed=True,
            direct=trig_features,
            nested=True,
        ),
        "hyperbolic": FeatureMap(
            name="hyperbolic",
            label="Hyperbolic (exp(±w·x))",
            kernel="unbiased",
            uses_projection=True,
            features_per_vector=2,
            signed=False,
            exponent=hyperbolic_exponent,
            nested=True,
        ),
        "oprf": FeatureMap(
            name="oprf",
            label="Optimal positive (FAVOR++, OPRF)",
            kernel="unbiased",
            uses_projection=True,
            features_per_vector=1,
            signed=False,
            exponent=oprf_exponent,
            fits_to_inputs=True,
            nested=True,
        ),
        "relu": FeatureMap(
            name="relu",
            label="ReLU (generalized, substitute)",
            kernel="substitute",
            uses_projection=True,
            features_per_vector=1,
            signed=False,
            direct=relu_features,
            nested=True,
        ),
        "elu_plus_one": FeatureMap(
            name="elu_plus_one",
            label="elu+1 (linear attention, substitute)",
            kernel="substitute",
            uses_projection=False,
            features_per_vector=1,
            signed=False,
            direct=elu_plus_one_features,
        ),
        "saderf": FeatureMap(
            name="saderf",
            label="FAVOR# (SADERF, rebalanced OPRF)",
            kernel="unbiased",
            uses_projection=True,
            features_per_vector=1,
            signed=False,
            exponent=saderf_exponent,
            fits_to_inputs=True,
            nested=True,
        ),
        "taylor2": FeatureMap(
            name="taylor2",
            label="2nd-order Taylor 1 + t + t²/2 (deterministic, substitute)",
            kernel="substitute",
            uses_projection=False,
            features_per_vector=1,
            signed=True,
            direct=taylor2_features,
            width=taylor2_width,
        ),
        "hybrid": FeatureMap(
            name="hybrid",
            label="Hybrid (angular HRF: θ/π·positive + (1 − θ/π)·trig)",
            kernel="unbiased",
            uses_projection=True,
            features_per_vector=3,  # 6 features per base row, about half the rows
            signed=True,
            direct=hybrid_features,
            width=hybrid_width,
        ),
        "hedgehog": FeatureMap(
            name="hedgehog",
            label="Learned (Hedgehog-style, fitted to the head, substitute)",
            kernel="substitute",
            uses_projection=True,  # W/√d initialises A
            features_per_vector=2,
            signed=False,
            fit=fit_map,
            fits_to_inputs=True,
        ),
    }
)


def get_feature_map(name: str) -> FeatureMap:
    """The registry entry for a name, or a ValueError listing the known names."""
    try:
        return FEATURE_MAPS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown feature map {name!r}: use one of {', '.join(FEATURE_MAPS)}"
        ) from None


def positive_features(x, y, w, *, stabilize: bool = True) -> Features:
    """FAVOR+ features of x and y (the registry's ``positive``)."""
    return FEATURE_MAPS["positive"](x, y, w, stabilize=stabilize)
