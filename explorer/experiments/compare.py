"""One comparison of exact and approximate attention, from a frozen config to plain arrays.

``compare(config, inputs)`` runs: x = q·√scale, y = k·√scale (scale = 1/√d by default, as in
torch SDPA) → W drawn from ``seed`` → φ(x), φ(y) → exact and linear attention → metrics and the
|x|, |x+y| statistics that predict the error. Without ``inputs`` it draws Gaussian ones from the
config (``data_seed``). Results are numpy arrays and floats: picklable, cacheable, plot-ready.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from explorer.attention.exact import DEFAULT_MEMORY_BUDGET
from explorer.attention.linear import DEFAULT_CHUNK, linear_attention
from explorer.device import compute_dtype, resolve_device, resolve_dtype, timed
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.inputs.synthetic import SYNTHETIC_KINDS, structured_inputs
from explorer.kernels.feature_maps import get_feature_map, mean_pair_sq_sum
from explorer.kernels.projections import PROJECTIONS, draw_projection, seeded_generator
from explorer.reference.display_maps import MAX_SIDE, AttentionMaps
from explorer.reference.metrics import ErrorMetrics, reference_errors

PAIR_SAMPLE = 20_000  # sampled (i, j) pairs of |x_i + y_j|² kept for histograms
ROW_SAMPLE_STREAM = 2**31 - 1  # added to ``seed``: the row sample's own random stream


@dataclass(frozen=True)
class ExperimentConfig:
    """Settings of one comparison; the synthetic-data fields apply when no inputs are given."""

    feature_map: str = "positive"  # key of FEATURE_MAPS
    num_features: int = 256  # m random vectors (trig and hyperbolic give 2m features)
    projection: str = "orthogonal"  # iid | orthogonal | fixed_norm
    seed: int = 0  # draws W: vary it to see the redraw spread
    causal: bool = False
    softmax_scale: float | None = None  # None: 1/√d like SDPA
    device: str = "auto"  # auto: cuda, then mps, then cpu
    dtype: str = "float32"  # half types are computed with float32 features and sums
    seq_len: int = 256  # l (synthetic)
    key_len: int | None = None  # s (synthetic); None: s = l
    head_dim: int = 64  # d (synthetic)
    value_dim: int | None = None  # e (synthetic); None: e = d
    num_heads: int = 1  # h (synthetic)
    input_scale: float = 0.35  # σ of synthetic q, k: E|x|² = σ²√d ≈ 1 at d = 64 (moderate)
    data_seed: int = 0  # draws synthetic q, k, v
    data_kind: str = "gaussian"  # gaussian | aligned | clustered | low_rank (inputs.synthetic)
    alignment: float = 0.8  # aligned: how far each key leans to its query, in [0, 1]
    num_clusters: int = 4  # clustered: number of token groups
    rank: int = 4  # low_rank: directions that Q and K live in
    row_sample: int | None = None  # query rows per head behind the P̂ metrics; None: all
    memory_budget: int = DEFAULT_MEMORY_BUDGET  # bytes of l×s blocks alive at once
    chunk_size: int = DEFAULT_CHUNK  # causal prefix-sum block length

    def __post_init__(self) -> None:
        get_feature_map(self.feature_map)
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
        for name in ("key_len", "value_dim", "row_sample"):
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
        resolve_dtype(self.dtype, torch.device("cpu"))  # name check; device checked on use
        if self.data_kind not in SYNTHETIC_KINDS:
            raise ValueError(
                f"unknown data_kind {self.data_kind!r}: use one of {', '.join(SYNTHETIC_KINDS)}"
            )


@dataclass(frozen=True)
class InputStatistics:
    """The quantities that predict the error (theory: positive rMSE = (e^{|x+y|²} − 1)/m)."""

    x_sq_norms: np.ndarray  # (n, l): |x_i|², x = q·√scale
    y_sq_norms: np.ndarray  # (n, s)
    mean_pair_sq_sum: np.ndarray  # (n,): mean over all pairs of |x_i + y_j|²
    pair_sq_sum_sample: np.ndarray  # (≤ PAIR_SAMPLE,): |x_i + y_j|² of random pairs


@dataclass(frozen=True)
class Timings:
    """Wall-clock seconds of the two sides (``python -m explorer bench`` times SDPA itself)."""

    approx_seconds: float  # features + linear attention (W drawn beforehand)
    reference_seconds: float  # one fused row pass: exact output, every metric (and the maps)


@dataclass(frozen=True)
class Comparison:
    """Everything one comparison produced, as numpy arrays and floats."""

    config: ExperimentConfig
    inputs_name: str
    device: str
    feature_dim: int  # length of φ(x)
    exact_output: np.ndarray | None  # (n, l, e); None without V
    approx_output: np.ndarray | None  # (n, l, e)
    metrics: ErrorMetrics
    statistics: InputStatistics
    timings: Timings
    negative_rows: int  # rows with a negative normaliser (signed maps)
    small_rows: int  # rows with a normaliser ≈ 0: output set to 0
    maps: AttentionMaps | None = field(repr=False)  # P, P̂ pooled to ≤ MAX_SIDE; None: skipped
    query_tokens: tuple[str, ...] | None = None
    key_tokens: tuple[str, ...] | None = None


def input_statistics(x: torch.Tensor, y: torch.Tensor, *, seed: int = 0) -> InputStatistics:
    """|x|², |y|², mean and a random sample of |x_i + y_j|² (O(l·d) memory)."""
    n = math.prod(x.shape[:-2])
    generator = seeded_generator(seed)
    i = torch.randint(0, x.shape[-2], (PAIR_SAMPLE,), generator=generator)
    j = torch.randint(0, y.shape[-2], (PAIR_SAMPLE,), generator=generator)
    h = torch.randint(0, n, (PAIR_SAMPLE,), generator=generator)
    xf, yf = x.reshape(n, *x.shape[-2:]).cpu(), y.reshape(n, *y.shape[-2:]).cpu()  # (n, l|s, d)
    pairs = ((xf[h, i] + yf[h, j]) ** 2).sum(-1)  # (PAIR_SAMPLE,)
    return InputStatistics(
        x_sq_norms=(xf**2).sum(-1).double().numpy(),
        y_sq_norms=(yf**2).sum(-1).double().numpy(),
        mean_pair_sq_sum=mean_pair_sq_sum(xf.double(), yf.double()).numpy(),
        pair_sq_sum_sample=pairs.double().numpy(),
    )


def synthetic_inputs(config: ExperimentConfig) -> AttentionInputs:
    """The synthetic inputs a config describes (drawn from ``data_seed``)."""
    return structured_inputs(
        config.data_kind,
        num_heads=config.num_heads,
        seq_len=config.seq_len,
        key_len=config.key_len,
        head_dim=config.head_dim,
        value_dim=config.value_dim,
        input_scale=config.input_scale,
        seed=config.data_seed,
        alignment=config.alignment,
        num_clusters=config.num_clusters,
        rank=config.rank,
    )


def sampled_rows(config: ExperimentConfig, num_rows: int) -> torch.Tensor | None:
    """The sorted query rows the P̂ metrics evaluate: ``row_sample`` drawn without replacement
    from ``seed``'s own stream, the same for every head; None when all rows are evaluated."""
    if config.row_sample is None or config.row_sample >= num_rows:
        return None
    generator = seeded_generator(config.seed + ROW_SAMPLE_STREAM)
    return torch.randperm(num_rows, generator=generator)[: config.row_sample].sort().values


def scaled_tensors(
    config: ExperimentConfig, inputs: AttentionInputs
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """x = q·√scale, y = k·√scale and v on the config's device, in its compute dtype.

    Inputs are cast to the chosen dtype first (its rounding is part of the experiment), then
    computed in float32 when that dtype is half precision. Shapes: (n, l, d), (n, s, d), (n, s, e).
    """
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    work = compute_dtype(dtype)
    d = inputs.head_dim
    scale = (1.0 / math.sqrt(d)) if config.softmax_scale is None else config.softmax_scale

    def load(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array).to(device=device, dtype=dtype).to(work)

    x = load(inputs.q) * math.sqrt(scale)  # (n, l, d)
    y = load(inputs.k) * math.sqrt(scale)  # (n, s, d)
    v = load(inputs.v) if inputs.v is not None else None  # (n, s, e)
    return x, y, v


def compare(
    config: ExperimentConfig, inputs: AttentionInputs | None = None, *, with_maps: bool = True
) -> Comparison:
    """Exact vs approximate attention on ``inputs`` (or the config's synthetic ones).

    ``with_maps=False`` skips the display maps (sweeps need only the metrics). The exact
    output, the metrics and the maps come from one pass over row blocks of P and P̂. With
    ``row_sample`` the attention-matrix metrics (and their per-row arrays) cover that many
    sampled query rows per head; the output errors stay exact over every row.
    """
    inputs = synthetic_inputs(config) if inputs is None else inputs
    x, y, v = scaled_tensors(config, inputs)
    device, work, d = x.device, x.dtype, inputs.head_dim
    fmap = get_feature_map(config.feature_map)
    projection = None
    if fmap.uses_projection:
        w = draw_projection(
            config.projection, config.num_features, d, generator=seeded_generator(config.seed)
        )
        projection = w.to(device=device, dtype=work)  # (m, d)
    feature_seconds, (phi_q, phi_k) = timed(lambda: fmap(x, y, projection), device)
    approx_seconds, approx = 0.0, None
    if v is not None:
        approx_seconds, approx = timed(
            lambda: linear_attention(
                phi_q, phi_k, v, causal=config.causal, chunk_size=config.chunk_size
            ),
            device,
        )
    reference_seconds, reference = timed(
        lambda: reference_errors(
            x,
            y,
            v,
            phi_q,
            phi_k,
            None if approx is None else approx.output,
            causal=config.causal,
            max_side=MAX_SIDE if with_maps else None,
            query_rows=sampled_rows(config, x.shape[-2]),
            memory_budget=config.memory_budget,
            seed=config.seed,
        ),
        device,
    )

    def to_numpy(t: torch.Tensor | None) -> np.ndarray | None:
        return None if t is None else t.float().cpu().numpy()

    return Comparison(
        config=config,
        inputs_name=inputs.name,
        device=str(device),
        feature_dim=phi_q.shape[-1],
        exact_output=to_numpy(reference.exact_output),
        approx_output=None if approx is None else to_numpy(approx.output),
        metrics=reference.metrics,
        statistics=input_statistics(x, y, seed=config.data_seed),
        timings=Timings(feature_seconds + approx_seconds, reference_seconds),
        negative_rows=0 if approx is None else approx.negative_rows,
        small_rows=0 if approx is None else approx.small_rows,
        maps=reference.maps,
        query_tokens=inputs.query_tokens,
        key_tokens=inputs.key_tokens,
    )
