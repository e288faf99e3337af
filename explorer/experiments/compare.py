"""One comparison of exact and approximate attention, from a frozen config to plain arrays.

``compare(config, inputs)`` runs: x = q·√scale, y = k·√scale (scale = 1/√d by default, as in
torch SDPA) → W drawn from the ``features`` stream of ``seed`` → φ(x), φ(y) → exact and linear
attention → metrics and the |x|, |x+y| statistics that predict the error. Without ``inputs`` it
draws synthetic ones from the ``synthetic_data`` stream of ``data_seed``: the two never share a
random number, whatever the seeds. A peer's ``recipe`` (``kernels.recipes``) replaces the
map, W, eps and stabiliser by that implementation's, through ``attention.peers``. Results are
numpy arrays (float64 when computed in float64, else float32) and floats: picklable, plot-ready.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from explorer.attention.linear import linear_attention
from explorer.attention.peers import peer_attention
from explorer.device import compute_dtype, resolve_device, resolve_dtype, timed
from explorer.experiments.config import ExperimentConfig, Softmax, resolve_softmax
from explorer.experiments.statistics import InputStatistics, input_statistics
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.inputs.synthetic import structured_inputs
from explorer.kernels.estimates import EstimatedKernel, estimated_kernel
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.learned import FitReport
from explorer.kernels.projections import draw_projection
from explorer.kernels.recipes import get_recipe
from explorer.reference.display_maps import MAX_SIDE, AttentionMaps
from explorer.reference.fused_pass import PassOptions
from explorer.reference.metrics import ErrorMetrics, reference_errors
from explorer.streams import stream

__all__ = ["Comparison", "ExperimentConfig", "InputStatistics", "Timings", "compare"]


@dataclass(frozen=True, kw_only=True)
class Timings:
    """Wall-clock seconds of the two sides (``python -m explorer bench`` times SDPA itself)."""

    approx_seconds: float  # features + linear attention (W drawn beforehand)
    reference_seconds: float  # one fused row pass: exact output, every metric (and the maps)


@dataclass(frozen=True, kw_only=True)
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
    small_rows: int  # rows without a usable normaliser (cancelled, or exactly 0): output 0
    maps: AttentionMaps | None = field(repr=False)  # P, P̂ pooled to ≤ MAX_SIDE; None: skipped
    query_tokens: tuple[str, ...] | None = None
    key_tokens: tuple[str, ...] | None = None
    estimates: EstimatedKernel | None = None  # the kernel these features estimate
    out_of_range_rows: int = 0  # rows with |ŷ_i| > max_j |v_j|: impossible for softmax
    recomputed_rows: int = 0  # rows recomputed in the log domain (their products underflowed)
    softmax: Softmax | None = None  # the exact softmax computed: scale, causal, window, cap
    fit: FitReport | None = None  # a fitted map's training: steps, time, rows fitted / held out


def synthetic_inputs(config: ExperimentConfig) -> AttentionInputs:
    """The synthetic inputs a config describes (from the ``synthetic_data`` stream of
    ``data_seed``)."""
    return structured_inputs(config.synthetic_spec())


def sampled_rows(config: ExperimentConfig, num_rows: int) -> torch.Tensor | None:
    """The sorted query rows the P̂ metrics evaluate: ``row_sample`` drawn without replacement
    from the seed's ``row_sample`` stream, the same for every head; None: every row."""
    if config.row_sample is None or config.row_sample >= num_rows:
        return None
    chosen = stream("row_sample", config.seed).generator().permutation(num_rows)
    return torch.from_numpy(chosen[: config.row_sample]).sort().values


def held_out_rows(config: ExperimentConfig, num_rows: int) -> torch.Tensor | None:
    """The rows a fitted map (``learned``) was not fitted on; None for every other map."""
    if get_recipe(config.recipe).peer:
        return None
    return get_feature_map(config.feature_map).held_out(num_rows)


def evaluated_rows(config: ExperimentConfig, num_rows: int) -> torch.Tensor | None:
    """The sorted rows behind the attention-matrix metrics: the row sample, and of a fitted map
    only its held-out rows; None: every row."""
    sample, held = sampled_rows(config, num_rows), held_out_rows(config, num_rows)
    if held is None or sample is None:
        return sample if held is None else held
    return sample[torch.isin(sample, held)]


def scaled_tensors(
    config: ExperimentConfig, inputs: AttentionInputs
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """x = q·√scale, y = k·√scale and v on the config's device, in its compute dtype.

    Inputs are cast to the chosen dtype first (its rounding is part of the experiment), then
    computed in float32 when that dtype is half precision. Query heads are grouped by their key
    head, so everything downstream broadcasts instead of repeating K and V.
    Shapes: (h_kv, g, l, d), (h_kv, 1, s, d), (h_kv, 1, s, e) with g = h / h_kv.
    """
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    work = compute_dtype(dtype)
    root = math.sqrt(resolve_softmax(config, inputs).scale)
    groups = inputs.num_kv_heads, inputs.group

    def load(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array).to(device=device, dtype=dtype).to(work)

    x = (load(inputs.q) * root).reshape(*groups, *inputs.q.shape[1:])  # (h_kv, g, l, d)
    y = (load(inputs.k) * root).unsqueeze(1)  # (h_kv, 1, s, d)
    v = load(inputs.v).unsqueeze(1) if inputs.v is not None else None  # (h_kv, 1, s, e)
    return x, y, v


def approximation(config: ExperimentConfig, inputs: AttentionInputs, x, y):
    """(features thunk, attention function) of the config's recipe, W drawn beforehand.

    "explorer": the config's feature map on its projection, ``linear_attention``. A peer: its
    W (seeded by ``seed``, or by the queries for a data-seeded peer), features and
    ``peer_attention``; ``feature_map`` and ``projection`` are then not used.
    """
    recipe = get_recipe(config.recipe)
    device, work, d = x.device, x.dtype, inputs.head_dim
    if recipe.peer:
        w = recipe.draw(config.num_features, d, seed=config.seed, queries=inputs.q)
        projection = w.to(device=device, dtype=work)  # (m, d)
        return (
            lambda: recipe.feature_pair(x, y, projection),
            lambda features, v, **options: peer_attention(recipe, features, v, **options),
        )
    fmap = get_feature_map(config.feature_map)
    projection = None
    if fmap.uses_projection:
        w = draw_projection(
            config.projection, config.num_features, d, stream=stream("features", config.seed)
        )
        projection = w.to(device=device, dtype=work)  # (m, d)
    return lambda: fmap(x, y, projection), linear_attention


def compare(
    config: ExperimentConfig, inputs: AttentionInputs | None = None, *, with_maps: bool = True
) -> Comparison:
    """Exact vs approximate attention on ``inputs`` (or the config's synthetic ones).

    ``with_maps=False`` skips the display maps (sweeps need only the metrics). The exact
    output, the metrics and the maps come from one pass over row blocks of P and P̂. With
    ``row_sample`` the attention-matrix metrics (and their per-row arrays) cover that many
    sampled query rows per head; the output errors stay exact over every row. A fitted map's
    metrics (both kinds) cover only its held-out rows (``Comparison.fit`` says which).
    """
    inputs = synthetic_inputs(config) if inputs is None else inputs
    softmax = resolve_softmax(config, inputs)
    x, y, v = scaled_tensors(config, inputs)  # (h_kv, g, l, d), (h_kv, 1, s, d), (h_kv, 1, s, e)
    mask = {"causal": softmax.causal, "window": softmax.window}
    device = x.device
    recipe = get_recipe(config.recipe)
    make_features, attend = approximation(config, inputs, x, y)
    feature_seconds, features = timed(make_features, device)
    approx_seconds, approx = 0.0, None
    if v is not None:
        approx_seconds, approx = timed(
            lambda: attend(features, v, **mask, chunk_size=config.chunk_size), device
        )
    reference_seconds, reference = timed(
        lambda: reference_errors(
            x,
            y,
            v,
            features,
            None if approx is None else approx.output,
            PassOptions(
                **mask,
                softcap=softmax.softcap,
                max_side=MAX_SIDE if with_maps else None,
                query_rows=evaluated_rows(config, x.shape[-2]),
                output_rows=held_out_rows(config, x.shape[-2]),
                memory_budget=config.memory_budget,
                seed=config.seed,
            ),
        ),
        device,
    )

    def to_numpy(t: torch.Tensor | None) -> np.ndarray | None:  # float64 stays float64
        if t is None:
            return None
        flat = t.reshape(-1, *t.shape[-2:])  # (h_kv, g, l, e) → (h, l, e)
        return flat.to(compute_dtype(t.dtype)).cpu().numpy()

    return Comparison(
        config=config,
        inputs_name=inputs.name,
        device=str(device),
        feature_dim=features.query.shape[-1],
        exact_output=to_numpy(reference.exact_output),
        approx_output=None if approx is None else to_numpy(approx.output),
        metrics=reference.metrics,
        statistics=input_statistics(x, y, seed=config.data_seed),
        timings=Timings(
            approx_seconds=feature_seconds + approx_seconds, reference_seconds=reference_seconds
        ),
        negative_rows=0 if approx is None else approx.negative_rows,
        small_rows=0 if approx is None else approx.small_rows,
        maps=reference.maps,
        query_tokens=inputs.query_tokens,
        key_tokens=inputs.key_tokens,
        estimates=recipe.estimates()
        if recipe.peer
        else estimated_kernel(config.feature_map, config.projection),
        out_of_range_rows=0 if approx is None else approx.out_of_range_rows,
        recomputed_rows=0 if approx is None else approx.recomputed_rows,
        softmax=softmax,
        fit=features.fit,
    )
