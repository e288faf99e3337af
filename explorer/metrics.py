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
from dataclasses import dataclass

import numpy as np
import torch

from explorer.exact import (
    DEFAULT_MEMORY_BUDGET,
    block_cap,
    head_row_blocks,
    scores,
    visible_keys,
)
from explorer.maps import AttentionMaps, MapPooler
from explorer.metrics_block import ROW_STATS, EntrySample, row_statistics, weight_block

LOG2E = math.log2(math.e)


@dataclass(frozen=True)
class ErrorMetrics:
    """Scalar errors with their uniform baselines, and per-row arrays for distributions."""

    output_relative_error: float | None  # None when no V was given
    uniform_baseline_error: float | None  # the same error for output = mean of visible V
    weights_relative_error: float
    uniform_weights_error: float
    max_abs_error: float  # max |P̂_ij − P_ij|
    output_max_abs_error: float | None  # max |Ŷ − Y|
    row_tv_mean: float
    uniform_row_tv_mean: float
    row_kl_mean: float  # over rows where KL is finite
    uniform_row_kl_mean: float
    kl_undefined_rows: int  # rows where P̂ ≤ 0 where P > 0 (signed maps): KL = +inf
    row_tv: np.ndarray  # (n, l)
    row_kl: np.ndarray  # (n, l), +inf where undefined
    row_output_error: np.ndarray | None  # (n, l): |ŷ_i − y_i|/rms_i|y_i|; mean square = rel²
    entry_error_sample: np.ndarray  # (≤ ENTRY_SAMPLE,): sampled P̂_ij − P_ij


def uniform_output(v: torch.Tensor, num_queries: int, *, causal: bool) -> torch.Tensor:
    """Output of uniform attention: mean of the visible values. Shapes: → (..., l, e)."""
    if not causal:
        return v.mean(dim=-2, keepdim=True).expand(*v.shape[:-2], num_queries, v.shape[-1])
    prefix = torch.cumsum(v, dim=-2)  # (..., s, e)
    last = torch.arange(num_queries, device=v.device).clamp(max=v.shape[-2] - 1)  # (l,)
    return prefix[..., last, :] / (last + 1).to(v.dtype).unsqueeze(-1)


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """‖approx − exact‖_F / ‖exact‖_F (inf if exact is 0 and approx is not, 0 if both are)."""
    num = float(torch.linalg.vector_norm((approx - exact).cpu().double()))  # mps: no float64
    den = float(torch.linalg.vector_norm(exact.cpu().double()))
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den


@dataclass(frozen=True)
class RowPass:
    """What one pass over the row blocks of P and P̂ produced."""

    weights: dict[str, object]  # the attention-matrix fields of ErrorMetrics
    exact_output: torch.Tensor | None  # (..., l, e) = PV; None without values
    maps: AttentionMaps | None  # pooled P, P̂; None without max_side


def row_pass(
    x: torch.Tensor,
    y: torch.Tensor,
    phi_q: torch.Tensor,
    phi_k: torch.Tensor,
    *,
    causal: bool,
    values: torch.Tensor | None = None,
    max_side: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    seed: int = 0,
) -> RowPass:
    """Attention-matrix errors block by block (never the whole l×s matrix), with PV and maps."""
    shapes = [t.shape[:-2] for t in (x, y, phi_q, phi_k, values) if t is not None]
    batch = torch.broadcast_shapes(*shapes)
    n, l, s, dev = math.prod(batch), x.shape[-2], y.shape[-2], x.device

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t.expand(*batch, *t.shape[-2:]).reshape(n, *t.shape[-2:])  # (n, ·, ·)

    x, y, phi_q, phi_k = flat(x), flat(y), flat(phi_q), flat(phi_k.to(phi_q.dtype))
    phi_k_t = phi_k.transpose(-2, -1).contiguous()  # (n, m, s): ~20% faster products on CPU
    k_norms = phi_k.norm(dim=-1)  # (n, s)
    seen = k_norms.cumsum(-1) if causal else k_norms.sum(-1, keepdim=True).expand(n, s)
    last = torch.arange(l, device=dev).clamp(max=s - 1)
    bound = phi_q.norm(dim=-1) * seen[:, last]  # (n, l): |φ(x_i)|·Σ_{j visible}|φ(y_j)|
    stats = torch.empty(len(ROW_STATS), n, l, dtype=phi_q.dtype, device=dev)
    max_abs = torch.zeros((), dtype=phi_q.dtype, device=dev)
    sample = EntrySample(n, l, s, seed)
    pooler = None if max_side is None else MapPooler(n, l, s, max_side=max_side, device=dev)
    output = None
    if values is not None:
        values = flat(values)  # (n, s, e)
        output = torch.empty(n, l, values.shape[-1], dtype=phi_q.dtype, device=dev)
        values = values.to(phi_q.dtype)
    buffers = 4 if pooler is None else 5  # S, P, K and scratch (+ the rows pooled for maps)
    row_bytes = buffers * s * phi_q.element_size()  # one row of one head
    blocks = head_row_blocks(n, l, row_bytes, memory_budget, cache_block=block_cap(dev))
    for heads, rows in blocks:
        keys = visible_keys(rows, s, causal)
        s_blk = scores(x[heads], y[heads], rows, causal=causal, scale=LOG2E, keys=keys)
        k_blk = phi_q[heads, rows] @ phi_k_t[heads, :, :keys]  # (h', r, keys), as S
        hidden = None
        if causal and keys > rows.start:  # keys rows.start..keys−1 are hidden from some rows
            pos = torch.arange(rows.start, rows.stop, device=dev).unsqueeze(-1)  # (r, 1)
            hidden = torch.arange(rows.start, keys, device=dev) > pos  # (r, keys − start)
        counts = torch.full((rows.stop - rows.start, 1), float(s), device=dev)
        if causal:
            counts = (torch.arange(rows.start, rows.stop, device=dev) + 1.0).clamp(max=s)[:, None]
        block = weight_block(s_blk, k_blk, hidden, bound[heads, rows], rows.start)
        if output is not None:
            output[heads, rows] = block.p @ values[heads, :keys]  # (h', r, e)
        if pooler is not None:
            pooler.add(block.p, block.p_hat, heads, rows)
        row_stats, block_max = row_statistics(
            block, hidden, counts.to(x.dtype), sample, heads, rows
        )
        for index, row_values in enumerate(row_stats):
            stats[index, heads, rows] = row_values
        max_abs = torch.maximum(max_abs, block_max)
    row = dict(zip(ROW_STATS, stats.cpu().double().numpy(), strict=True))  # (n, l) each
    kl, finite = row["kl"], np.isfinite(row["kl"])
    weights = {
        "weights_relative_error": math.sqrt(row["sq_err"].sum() / row["sq_ref"].sum()),
        "uniform_weights_error": math.sqrt(row["unif_sq"].sum() / row["sq_ref"].sum()),
        "max_abs_error": float(max_abs),
        "row_tv_mean": float(row["tv"].mean()),
        "uniform_row_tv_mean": float(row["unif_tv"].mean()),
        "row_kl_mean": float(kl[finite].mean()) if finite.any() else math.inf,
        "uniform_row_kl_mean": float(row["unif_kl"].mean()),
        "kl_undefined_rows": int((~finite).sum()),
        "row_tv": row["tv"],
        "row_kl": kl,
        "entry_error_sample": sample.values.numpy(),
    }
    if output is not None:
        output = output.reshape(*batch, l, output.shape[-1])  # (..., l, e)
    return RowPass(weights, output, None if pooler is None else pooler.maps())


def weight_metrics(
    x: torch.Tensor,
    y: torch.Tensor,
    phi_q: torch.Tensor,
    phi_k: torch.Tensor,
    *,
    causal: bool,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    seed: int = 0,
) -> dict[str, object]:
    """The attention-matrix fields of ``ErrorMetrics`` alone (see ``row_pass``)."""
    return row_pass(
        x, y, phi_q, phi_k, causal=causal, memory_budget=memory_budget, seed=seed
    ).weights


def _with_outputs(
    weights: dict[str, object],
    v: torch.Tensor | None,
    exact_output: torch.Tensor | None,
    approx_output: torch.Tensor | None,
    *,
    causal: bool,
) -> ErrorMetrics:
    """ErrorMetrics from the weight fields and the two outputs (None fields without V)."""
    if v is None or exact_output is None or approx_output is None:
        return ErrorMetrics(
            output_relative_error=None,
            uniform_baseline_error=None,
            output_max_abs_error=None,
            row_output_error=None,
            **weights,
        )
    num_queries = exact_output.shape[-2]
    baseline = uniform_output(v.to(exact_output.dtype), num_queries, causal=causal)
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
    phi_q: torch.Tensor,
    phi_k: torch.Tensor,
    exact_output: torch.Tensor | None,
    approx_output: torch.Tensor | None,
    *,
    causal: bool,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    seed: int = 0,
) -> ErrorMetrics:
    """All metrics of one comparison against a given exact output (matrices done in blocks).

    Without V (``v`` and both outputs None) the output errors are None: only weights compare.
    """
    weights = weight_metrics(
        x, y, phi_q, phi_k, causal=causal, memory_budget=memory_budget, seed=seed
    )
    return _with_outputs(weights, v, exact_output, approx_output, causal=causal)


@dataclass(frozen=True)
class Reference:
    """The exact side of a comparison and every error, from one ``row_pass``."""

    exact_output: torch.Tensor | None  # (..., l, e); None without V
    metrics: ErrorMetrics
    maps: AttentionMaps | None  # None unless asked for


def reference_errors(
    x: torch.Tensor,
    y: torch.Tensor,
    v: torch.Tensor | None,
    phi_q: torch.Tensor,
    phi_k: torch.Tensor,
    approx_output: torch.Tensor | None,
    *,
    causal: bool,
    max_side: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    seed: int = 0,
) -> Reference:
    """Exact output Y = PV, all metrics and (with ``max_side``) display maps in one pass."""
    done = row_pass(
        x,
        y,
        phi_q,
        phi_k,
        causal=causal,
        values=v,
        max_side=max_side,
        memory_budget=memory_budget,
        seed=seed,
    )
    metrics = _with_outputs(done.weights, v, done.exact_output, approx_output, causal=causal)
    return Reference(done.exact_output, metrics, done.maps)
