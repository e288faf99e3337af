"""Recipes: what users of the popular implementations get, on the same inputs (one registry).

A recipe fixes the feature map, how W is built (sign fix or not), where an eps enters, the
stabiliser, whose seed draws W and the peer's default m. "explorer" is this project's own path
(the config's map and projection, no eps, the key-max stabiliser of ``feature_maps``). The
peers (``peers`` holds their maths):
  google             google-research performer/fast_attention/jax/fast_attention.py:
                     positive features + ε = 10⁻⁶ after the exp (``numerical_stabilizer``,
                     passed on as the kernel's eps), plain QR, chi norms, normaliser guard
                     R + 2ε·[|R| ≤ ε], W redrawn every call from the key ⌈Σq·10⁷⌉ (data-seeded)
  performer_pytorch  lucidrains performer-pytorch 1.1.4 softmax_kernel: ε = 10⁻⁴ after the exp,
                     plain QR (gaussian_orthogonal_random_matrix, scaling=0), m = ⌊d ln d⌋;
                     causal (non-CUDA) adds 10⁻⁶ to every entry of the key prefix sum
  fast_transformers  idiap fast-transformers Favor (stabilize=False): hyperbolic features with
                     no shift, plain QR with the QR'd block's own row norms, 1/(D + 10⁻⁶)
The peers' features are computed in x = q·√scale (their d^{−1/4} at the default scale).
Every peer redraws from a generator the user seeds (torch's global one) except google, whose
key comes from the data: here ``peers.query_sum_seed`` (deterministic, so tests reproduce).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
import torch

from explorer.kernels.estimates import EstimatedKernel
from explorer.kernels.feature_maps import Features
from explorer.kernels.peers import (
    eps_positive_features,
    plain_qr_projection,
    query_sum_seed,
    unstabilised_hyperbolic_features,
)
from explorer.streams import stream

FeatureKind = Literal["explorer", "eps_positive", "unstabilised_hyperbolic"]
ProjectionKind = Literal["explorer", "plain_qr", "plain_qr_own_norms"]
Stabiliser = Literal["explorer", "query_row_max_key_global_max", "none"]
SeedPolicy = Literal["user", "data"]


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """One registry entry: a peer's features, W, eps, stabiliser, seed and default m."""

    name: str
    label: str
    source: str  # the implementation and file reproduced
    features: FeatureKind
    projection: ProjectionKind  # "explorer": the config's projection
    sign_correction: bool  # Mezzadri's fix of the QR step
    feature_eps: float = 0.0  # added after the exp to every feature (numerator and D)
    normalizer_eps: float = 0.0  # added to D only: Ŷ = N/(D + eps)
    causal_key_eps: float = 0.0  # causal: added to each entry of Σ_{j≤i} φ(y_j), inside D only
    normalizer_guard: float = 0.0  # D + 2g where |D| ≤ g (google's renormalisation guard)
    stabiliser: Stabiliser
    seed_policy: SeedPolicy  # "data": W's seed is a function of the queries, not ``seed``
    default_m: Callable[[int], int] | None = None  # d → the peer's default m; None: config's
    default_m_text: str = "the config's m"

    @property
    def peer(self) -> bool:
        return self.name != "explorer"

    @property
    def sized_as(self) -> str | None:
        """The registry map whose φ has the peer's width (budgets size by it); None: config's."""
        return _SAME_WIDTH.get(self.features)

    def draw(
        self, num_features: int, head_dim: int, *, seed: int, queries: np.ndarray | torch.Tensor
    ) -> torch.Tensor:
        """The peer's W of m rows from the ``features`` stream (of the data seed for google).

        Shapes: (m, d), float64 on the CPU. Not for "explorer" (``projections`` draws it).
        """
        if self.projection == "explorer":
            raise ValueError("the explorer recipe draws W from the config's projection")
        if self.seed_policy == "data":
            seed = query_sum_seed(queries)
        norms = "own" if self.projection == "plain_qr_own_norms" else "independent"
        return plain_qr_projection(
            num_features, head_dim, stream=stream("features", seed), norms=norms
        )

    def feature_pair(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> Features:
        """φ(x), φ(y) as the peer computes them (no log-domain rows: they have none)."""
        if self.features == "eps_positive":
            phi_x, phi_y = eps_positive_features(x, y, w, eps=self.feature_eps)
        elif self.features == "unstabilised_hyperbolic":
            phi_x, phi_y = unstabilised_hyperbolic_features(x, y, w)
        else:
            raise ValueError("the explorer recipe uses the config's feature map")
        return Features(phi_x, phi_y, signed=False)

    def estimates(self) -> EstimatedKernel:
        """What the peer's φ(x)·φ(y) estimates: softmax, biased by plain QR (and by eps)."""
        parts = ["plain QR without the sign fix (rows not isotropic)"]
        if self.projection == "plain_qr_own_norms":
            parts.append("row norms taken from the QR'd Gaussian block itself")
        if self.feature_eps:
            parts.append(
                f"ε = {self.feature_eps:g} after the exp, relative to shifted features: "
                "pulls P̂ towards uniform attention"
            )
        return EstimatedKernel(
            name="softmax (biased)",
            formula="exp(x·y)",
            unbiased_for_softmax=False,
            summary=f"{self.label}: estimates exp(x·y), biased by " + "; ".join(parts),
        )


# A peer's features have the width of these registry maps (m and 2m per m vectors).
_SAME_WIDTH = {"eps_positive": "positive", "unstabilised_hyperbolic": "hyperbolic"}

RECIPES: MappingProxyType[str, Recipe] = MappingProxyType(
    {
        "explorer": Recipe(
            name="explorer",
            label="explorer (this project)",
            source="explorer/kernels/feature_maps.py",
            features="explorer",
            projection="explorer",
            sign_correction=True,
            stabiliser="explorer",
            seed_policy="user",
        ),
        "google": Recipe(
            name="google",
            label="google-research performer (JAX)",
            source="google-research performer/fast_attention/jax/fast_attention.py",
            features="eps_positive",
            projection="plain_qr",
            sign_correction=False,
            feature_eps=1e-6,
            normalizer_guard=1e-6,
            stabiliser="query_row_max_key_global_max",
            seed_policy="data",
            default_m=lambda d: 256,
            default_m_text="256 (nb_features)",
        ),
        "performer_pytorch": Recipe(
            name="performer_pytorch",
            label="performer-pytorch 1.1.4 (lucidrains)",
            source="performer_pytorch/performer_pytorch.py softmax_kernel, FastAttention",
            features="eps_positive",
            projection="plain_qr",
            sign_correction=False,
            feature_eps=1e-4,
            causal_key_eps=1e-6,
            stabiliser="query_row_max_key_global_max",
            seed_policy="user",
            default_m=lambda d: int(d * math.log(d)),
            default_m_text="⌊d ln d⌋",
        ),
        "fast_transformers": Recipe(
            name="fast_transformers",
            label="fast-transformers Favor (idiap)",
            source="fast_transformers/feature_maps/fourier_features.py Favor",
            features="unstabilised_hyperbolic",
            projection="plain_qr_own_norms",
            sign_correction=False,
            normalizer_eps=1e-6,
            stabiliser="none",
            seed_policy="user",
            default_m=lambda d: d // 2,
            default_m_text="d/2 vectors (n_dims = d features)",
        ),
    }
)


def get_recipe(name: str) -> Recipe:
    """The registry entry for a name, or a ValueError listing the known names."""
    try:
        return RECIPES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown recipe {name!r}: use one of {', '.join(RECIPES)}") from None
