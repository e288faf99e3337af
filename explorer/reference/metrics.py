"""Errors of approximate attention against the exact reference, computed in row blocks.

Output: relative error ‖Ŷ − Y‖_F/‖Y‖_F. Attention matrix P̂ = D⁻¹φ(Q)φ(K)ᵀ against P:
relative Frobenius error, max |P̂ − P|, per-row total variation ½Σ_j|P̂_ij − P_ij| and
KL(P_i ‖ P̂_i). Each comes with the uniform-attention baseline (P_ij = 1/#visible keys, output =
mean of the visible V): an approximation worse than the baseline has learnt nothing.
Max relative per-entry errors are avoided: they explode on tiny entries (google-research#503).
The l×s matrices exist only one block of rows at a time (``memory_budget`` bytes, and on a CPU
at most ``CACHE_BLOCK`` so every pass runs from cache); each block's statistics are per-row
reductions, so any blocking gives the same numbers. ``reference_errors`` is the one pass a
comparison needs: each block of P also gives its rows of the exact output PV, and P, P̂ are
pooled for display there, so S = XYᵀ and K = φ(Q)φ(K)ᵀ are computed once. Causal blocks stop
at their last visible key. Shapes: x (..., l, d), y (..., s, d) pre-scaled (x·y is the logit),
v (..., s, e).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from explorer.attention.exact import fast_softmax_attention
from explorer.attention.masks import visible_counts
from explorer.attention.normalizers import visible_sum
from explorer.kernels.feature_maps import Features
from explorer.reference.display_maps import AttentionMaps, attention_maps
from explorer.reference.fused_pass import PassOptions, row_pass


@dataclass(frozen=True, kw_only=True)
class ErrorMetrics:
    """Scalar errors with their uniform baselines, and per-row arrays for distributions."""

    output_relative_error: float | None  # None when no V was given
    uniform_baseline_error: float | None  # the same error for output = mean of visible V
    weights_relative_error: float
    uniform_weights_error: float
    max_abs_error: float  # max |P̂_ij − P_ij| (over the evaluated rows)
    output_max_abs_error: float | None  # max |Ŷ − Y|
    row_tv_mean: float
    uniform_row_tv_mean: float
    row_kl_mean: float  # over every evaluated row: +inf when any row's KL is undefined
    row_kl_mean_defined: float | None  # over the rows where KL is defined (None: no such row)
    uniform_row_kl_mean: float
    kl_undefined_rows: int  # rows where P̂ ≤ 0 where P > 0 (signed maps, underflow): KL = +inf
    rows_evaluated: int  # query rows per head behind the attention-matrix metrics (l: all)
    heads_evaluated: int  # heads behind them: the row means cover heads × rows rows
    row_tv: np.ndarray  # (n, r): r = rows_evaluated
    row_kl: np.ndarray  # (n, r), +inf where undefined
    row_output_error: np.ndarray | None  # (n, r) on the output rows: |ŷ_i − y_i|/rms_i|y_i|
    entry_error_sample: np.ndarray  # (≤ ENTRY_SAMPLE,): sampled P̂_ij − P_ij


def uniform_output(
    v: torch.Tensor, num_queries: int, *, causal: bool, window: int | None = None
) -> torch.Tensor:
    """Output of uniform attention: mean of the visible values. Shapes: → (..., l, e)."""
    if not causal:
        return v.mean(dim=-2, keepdim=True).expand(*v.shape[:-2], num_queries, v.shape[-1])
    rows = torch.arange(num_queries, device=v.device)  # (l,)
    total = visible_sum(v.transpose(-2, -1), num_queries, window=window)  # (..., e, l)
    counts = visible_counts(rows, v.shape[-2], causal=True, window=window).clamp(min=1)
    return (total / counts.to(v.dtype)).transpose(-2, -1)  # (..., l, e)


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """‖approx − exact‖_F / ‖exact‖_F (inf if exact is 0 and approx is not, 0 if both are)."""
    num = float(torch.linalg.vector_norm((approx - exact).cpu().double()))  # mps: no float64
    den = float(torch.linalg.vector_norm(exact.cpu().double()))
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den


def weight_metrics(
    x: torch.Tensor, y: torch.Tensor, features: Features, options: PassOptions
) -> dict[str, object]:
    """The attention-matrix fields of ``ErrorMetrics`` alone (see ``row_pass``)."""
    return row_pass(x, y, features, replace(options, max_side=None)).weights


def _with_outputs(
    weights: dict[str, object],
    v: torch.Tensor | None,
    exact_output: torch.Tensor | None,
    approx_output: torch.Tensor | None,
    *,
    causal: bool,
    window: int | None = None,
    rows: torch.Tensor | None = None,
) -> ErrorMetrics:
    """ErrorMetrics from the weight fields and the two outputs (None fields without V), over
    the query ``rows`` (sorted; None: every row)."""
    if v is None or exact_output is None or approx_output is None:
        return ErrorMetrics(
            output_relative_error=None,
            uniform_baseline_error=None,
            output_max_abs_error=None,
            row_output_error=None,
            **weights,
        )
    num_queries = exact_output.shape[-2]
    baseline = uniform_output(v.to(exact_output.dtype), num_queries, causal=causal, window=window)
    if rows is not None:
        index = rows.to(exact_output.device)
        exact_output, approx_output = exact_output[..., index, :], approx_output[..., index, :]
        baseline, num_queries = baseline[..., index, :], len(rows)  # (..., r, e)
    rms = float(torch.linalg.vector_norm(exact_output.cpu().double())) / math.sqrt(
        max(1, exact_output[..., 0].numel())
    )
    row_err = torch.linalg.vector_norm((approx_output - exact_output).cpu().double(), dim=-1)
    row_err = row_err.reshape(-1, num_queries).cpu().numpy() / (rms or 1.0)  # (n, l)
    return ErrorMetrics(
        output_relative_error=relative_error(approx_output, exact_output),
        uniform_baseline_error=relative_error(baseline, exact_output),
        output_max_abs_error=float((approx_output - exact_output).abs().max()),
        row_output_error=row_err,
        **weights,
    )


def error_metrics(
    x: torch.Tensor,
    y: torch.Tensor,
    v: torch.Tensor | None,
    features: Features,
    outputs: tuple[torch.Tensor | None, torch.Tensor | None],
    options: PassOptions,
) -> ErrorMetrics:
    """All metrics of one comparison against given (exact, approximate) outputs.

    Without V (``v`` and both outputs None) the output errors are None: only weights compare.
    """
    weights = weight_metrics(x, y, features, options)
    return _with_outputs(
        weights,
        v,
        *outputs,
        causal=options.causal,
        window=options.window,
        rows=options.output_rows,
    )


@dataclass(frozen=True, kw_only=True)
class Reference:
    """The exact side of a comparison and every error, from one ``row_pass``."""

    exact_output: torch.Tensor | None  # (..., l, e); None without V
    metrics: ErrorMetrics
    maps: AttentionMaps | None  # None unless asked for


def reference_errors(
    x: torch.Tensor,
    y: torch.Tensor,
    v: torch.Tensor | None,
    features: Features,
    approx_output: torch.Tensor | None,
    options: PassOptions,
) -> Reference:
    """Exact output Y = PV, all metrics and (with ``max_side``) display maps in one pass.

    With ``query_rows`` (sorted, distinct) the attention-matrix metrics cover those rows only:
    Y then comes from ``fast_softmax_attention`` over every row (no K), and the maps from
    their own pass, so the output errors stay exact while P̂ costs r·s·m instead of l·s·m.
    """
    every_row = options.query_rows is None  # else Y and the maps need passes of their own
    sampled = options if every_row else replace(options, max_side=None)
    done = row_pass(x, y, features, sampled, values=v if every_row else None)
    exact, maps = done.exact_output, done.maps
    mask = {"causal": options.causal, "window": options.window}
    if not every_row and v is not None:
        exact = fast_softmax_attention(
            x, y, v, **mask, scale=1.0, memory_budget=options.memory_budget, cap=options.softcap
        )
    if not every_row and options.max_side is not None:
        maps = attention_maps(x, y, features, options)
    metrics = _with_outputs(done.weights, v, exact, approx_output, **mask, rows=options.output_rows)
    return Reference(exact_output=exact, metrics=metrics, maps=maps)
