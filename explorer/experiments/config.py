"""The settings of one comparison: a frozen, validated ``ExperimentConfig``.

Its field defaults are the project's defaults: the sidebar, the command line, the benchmark and
the figures read them from here (``DEFAULTS``), never restating them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from explorer.attention.blocks import DEFAULT_MEMORY_BUDGET
from explorer.attention.linear import DEFAULT_CHUNK
from explorer.device import resolve_dtype
from explorer.inputs.synthetic import SYNTHETIC_KINDS, SyntheticSpec
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.projections import PROJECTIONS
from explorer.kernels.recipes import get_recipe


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Settings of one comparison; the synthetic-data fields apply when no inputs are given."""

    feature_map: str = "positive"  # key of FEATURE_MAPS
    num_features: int = 256  # m random vectors (φ width: FeatureMap.feature_dim)
    projection: str = "orthogonal"  # iid | orthogonal | fixed_norm
    seed: int = 0  # draws W: vary it to see the redraw spread
    causal: bool | None = None  # None: the inputs' own mask (a capture's), else not causal
    softmax_scale: float | None = None  # None: the inputs' own scale, else 1/√d like SDPA
    window: int | None = None  # sliding window; None: the inputs' own, 0: none (causal only)
    softcap: float | None = None  # logit soft-cap c; None: the inputs' own, 0: none
    device: str = "auto"  # auto: cuda, then mps, then cpu
    dtype: str = "float32"  # half types are computed with float32 features and sums
    seq_len: int = 256  # l (synthetic)
    key_len: int | None = None  # s (synthetic); None: s = l
    head_dim: int = 64  # d (synthetic)
    value_dim: int | None = None  # e (synthetic); None: e = d
    num_heads: int = 1  # h (synthetic)
    num_kv_heads: int | None = None  # h_kv (synthetic), dividing h; None: h_kv = h
    input_scale: float = 0.35  # σ of synthetic q, k: E|x|² = σ²√d ≈ 1 at d = 64 (moderate)
    data_seed: int = 0  # draws synthetic q, k, v
    data_kind: str = "gaussian"  # gaussian | aligned | clustered | low_rank (inputs.synthetic)
    alignment: float = 0.8  # aligned: how far each key leans to its query, in [0, 1]
    num_clusters: int = 4  # clustered: number of token groups
    rank: int = 4  # low_rank: directions that Q and K live in
    row_sample: int | None = None  # query rows per head behind the P̂ metrics; None: all
    memory_budget: int = DEFAULT_MEMORY_BUDGET  # bytes of l×s blocks alive at once
    chunk_size: int = DEFAULT_CHUNK  # causal prefix-sum block length
    recipe: str = "explorer"  # key of RECIPES; a peer's replaces feature_map and projection

    def __post_init__(self) -> None:
        get_feature_map(self.feature_map)
        get_recipe(self.recipe)
        if self.projection not in PROJECTIONS:
            raise ValueError(
                f"unknown projection {self.projection!r}: use one of {', '.join(PROJECTIONS)}"
            )
        positive = (
            "num_features",
            "seq_len",
            "head_dim",
            "num_heads",
            "chunk_size",
            "memory_budget",
        )
        for name in positive:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("key_len", "value_dim", "row_sample", "num_kv_heads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("seed", "data_seed"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        if not (math.isfinite(self.input_scale) and self.input_scale >= 0):
            raise ValueError(f"input_scale must be finite and ≥ 0, got {self.input_scale}")
        if self.softmax_scale is not None and not (
            math.isfinite(self.softmax_scale) and self.softmax_scale > 0
        ):
            raise ValueError(f"softmax_scale must be finite and > 0, got {self.softmax_scale}")
        if self.num_kv_heads is not None and self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_kv_heads = {self.num_kv_heads} must divide num_heads = {self.num_heads}"
            )
        if self.causal is not None and not isinstance(self.causal, bool):
            raise ValueError(f"causal must be True, False or None, got {self.causal!r}")
        if self.window is not None and (
            isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 0
        ):
            raise ValueError(f"window must be a number of keys ≥ 0 (0: none), got {self.window!r}")
        if self.softcap is not None and not (math.isfinite(self.softcap) and self.softcap >= 0):
            raise ValueError(f"softcap must be finite and ≥ 0 (0: none), got {self.softcap}")
        resolve_dtype(self.dtype, torch.device("cpu"))  # name check; device checked on use
        if self.data_kind not in SYNTHETIC_KINDS:
            raise ValueError(
                f"unknown data_kind {self.data_kind!r}: use one of {', '.join(SYNTHETIC_KINDS)}"
            )

    def synthetic_spec(self) -> SyntheticSpec:
        """The synthetic data these settings describe (used when no inputs are given)."""
        return SyntheticSpec(
            kind=self.data_kind,
            num_heads=self.num_heads,
            num_kv_heads=self.num_kv_heads,
            seq_len=self.seq_len,
            key_len=self.key_len,
            head_dim=self.head_dim,
            value_dim=self.value_dim,
            input_scale=self.input_scale,
            seed=self.data_seed,
            alignment=self.alignment,
            num_clusters=self.num_clusters,
            rank=self.rank,
        )


@dataclass(frozen=True, kw_only=True)
class Softmax:
    """How exact softmax attention is computed here: the config's choices over the inputs' own."""

    scale: float  # multiplies q·k
    causal: bool
    window: int | None  # sliding window of keys (causal only), None: none
    softcap: float | None  # logit soft-cap, None: none

    @property
    def label(self) -> str:
        parts = [f"scale {self.scale:.4g}", "causal" if self.causal else "not causal"]
        parts.append(f"window {self.window}" if self.window else "no window")
        if self.softcap:
            parts.append(f"logits soft-capped at {self.softcap:g}")
        return ", ".join(parts)


def resolve_softmax(config: ExperimentConfig, inputs) -> Softmax:
    """The config's softmax settings where given, else the inputs' own, else the standard."""

    def own(name: str, fallback):
        chosen = getattr(config, name)
        if chosen is not None:
            return chosen
        value = None if inputs is None else getattr(inputs, name, None)
        return fallback if value is None else value

    window = own("window", None) or None  # 0 means none
    softcap = own("softcap", None) or None
    head_dim = config.head_dim if inputs is None else inputs.head_dim
    causal = bool(own("causal", False))
    if window is not None and not causal:
        raise ValueError(
            f"a sliding window of {window} keys needs causal attention: set causal (or window 0)"
        )
    return Softmax(
        scale=float(own("softmax_scale", 1.0 / math.sqrt(head_dim))),
        causal=causal,
        window=window,
        softcap=softcap,
    )


DEFAULTS = ExperimentConfig()  # the one place the defaults are read from
