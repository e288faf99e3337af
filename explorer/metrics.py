"""Errors of approximate attention against the exact reference, computed in row blocks.

Output: relative error ‖Ŷ − Y‖_F/‖Y‖_F. Attention matrix P̂ = D⁻¹φ(Q)φ(K)ᵀ against P:
relative Frobenius error, max |P̂ − P|, per-row total variation ½Σ_j|P̂_ij − P_ij| and
KL(P_i ‖ P̂_i). Each comes with the uniform-attention baseline (P_ij = 1/#visible keys, output =
mean of the visible V): an approximation worse than the baseline has learnt nothing.
Max relative per-entry errors are avoided: they explode on tiny entries (google-research#503).
The l×s matrices exist only one block of rows at a time (``memory_budget`` bytes).
Shapes: x (..., l, d), y (..., s, d) pre-scaled (x·y is the logit), v (..., s, e).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from explorer.exact import DEFAULT_MEMORY_BUDGET, exact_weights, row_blocks
from explorer.linear import approximate_weights

ENTRY_SAMPLE = 20_000  # sampled entries of P̂ − P kept for histograms


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
    num = float(torch.linalg.vector_norm((approx - exact).double()))
    den = float(torch.linalg.vector_norm(exact.double()))
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den


def _visible_counts(rows: slice, num_keys: int, causal: bool, device) -> torch.Tensor:
    counts = torch.full((rows.stop - rows.start,), num_keys, device=device)
    if causal:
        counts = torch.clamp(torch.arange(rows.start, rows.stop, device=device) + 1, max=num_keys)
    return counts  # (r,)


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
    """Attention-matrix errors, accumulated block by block (never the whole l×s matrix)."""
    batch = torch.broadcast_shapes(x.shape[:-2], y.shape[:-2], phi_q.shape[:-2])
    num_rows, num_keys = x.shape[-2], y.shape[-2]
    heads = math.prod(batch)
    row_bytes = 8 * heads * num_keys * 8  # ~8 live (r, s) float64-sized arrays per block
    generator = torch.Generator().manual_seed(seed)
    keep = ENTRY_SAMPLE / max(1, heads * num_rows * num_keys)  # fraction of entries sampled
    sq_err = sq_ref = sq_unif = 0.0
    max_abs = 0.0
    row_tv, row_kl, unif_tv, unif_kl, samples = [], [], [], [], []
    for rows in row_blocks(num_rows, row_bytes, memory_budget):
        p = exact_weights(x, y, rows=rows, causal=causal, scale=1.0).double()  # (..., r, s)
        p_hat = approximate_weights(phi_q, phi_k, rows=rows, causal=causal).double()
        diff = p_hat - p
        counts = _visible_counts(rows, num_keys, causal, x.device).double().unsqueeze(-1)
        visible = torch.ones_like(p, dtype=torch.bool)
        if causal:
            visible = torch.arange(num_keys, device=x.device) < counts  # (r, s)
        uniform = visible / counts  # (r, s)
        sq_err += float((diff * diff).sum())
        sq_ref += float((p * p).sum())
        sq_unif += float(((uniform - p) ** 2).sum())
        max_abs = max(max_abs, float(diff.abs().max()))
        row_tv.append(0.5 * diff.abs().sum(-1))
        unif_tv.append(0.5 * (uniform - p).abs().sum(-1))
        log_p = torch.where(p > 0, p.log(), torch.zeros_like(p))
        ratio_ok = (p_hat > 0) | (p == 0)
        log_p_hat = torch.where(p_hat > 0, p_hat.log(), torch.zeros_like(p_hat))
        kl = (p * (log_p - log_p_hat)).sum(-1)
        row_kl.append(torch.where(ratio_ok.all(-1), kl, torch.full_like(kl, math.inf)))
        unif_kl.append((p * log_p).sum(-1) + counts.squeeze(-1).log())
        if keep < 1:
            pick = torch.rand(diff.shape, generator=generator) < keep
            samples.append(diff.cpu()[pick])
        else:
            samples.append(diff.cpu().flatten())
    tv = torch.cat(row_tv, -1).reshape(heads, num_rows).cpu().numpy()  # (n, l)
    kl = torch.cat(row_kl, -1).reshape(heads, num_rows).cpu().numpy()  # (n, l)
    finite = np.isfinite(kl)
    return {
        "weights_relative_error": math.sqrt(sq_err / sq_ref),
        "uniform_weights_error": math.sqrt(sq_unif / sq_ref),
        "max_abs_error": max_abs,
        "row_tv_mean": float(tv.mean()),
        "uniform_row_tv_mean": float(torch.cat(unif_tv, -1).mean()),
        "row_kl_mean": float(kl[finite].mean()) if finite.any() else math.inf,
        "uniform_row_kl_mean": float(torch.cat(unif_kl, -1).mean()),
        "kl_undefined_rows": int((~finite).sum()),
        "row_tv": tv,
        "row_kl": kl,
        "entry_error_sample": torch.cat(samples).numpy()[:ENTRY_SAMPLE],
    }


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
    """All metrics of one comparison (outputs given, attention matrices done in blocks).

    Without V (``v`` and both outputs None) the output errors are None: only weights compare.
    """
    weights = weight_metrics(
        x, y, phi_q, phi_k, causal=causal, memory_budget=memory_budget, seed=seed
    )
    if v is None or exact_output is None or approx_output is None:
        return ErrorMetrics(
            output_relative_error=None,
            uniform_baseline_error=None,
            output_max_abs_error=None,
            row_output_error=None,
            **weights,
        )
    baseline = uniform_output(v.to(exact_output.dtype), x.shape[-2], causal=causal)
    rms = float(torch.linalg.vector_norm(exact_output.double())) / math.sqrt(
        max(1, exact_output[..., 0].numel())
    )
    row_err = torch.linalg.vector_norm((approx_output - exact_output).double(), dim=-1)
    row_err = row_err.reshape(-1, x.shape[-2]).cpu().numpy() / (rms or 1.0)  # (n, l)
    return ErrorMetrics(
        output_relative_error=relative_error(approx_output, exact_output),
        uniform_baseline_error=relative_error(baseline, exact_output),
        output_max_abs_error=float((approx_output - exact_output).abs().max()),
        row_output_error=row_err,
        **weights,
    )
