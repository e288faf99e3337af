"""Errors of approximate attention against the exact reference, computed in row blocks.

Output: relative error ‖Ŷ − Y‖_F/‖Y‖_F. Attention matrix P̂ = D⁻¹φ(Q)φ(K)ᵀ against P:
relative Frobenius error, max |P̂ − P|, per-row total variation ½Σ_j|P̂_ij − P_ij| and
KL(P_i ‖ P̂_i). Each comes with the uniform-attention baseline (P_ij = 1/#visible keys, output =
mean of the visible V): an approximation worse than the baseline has learnt nothing.
Max relative per-entry errors are avoided: they explode on tiny entries (google-research#503).
The l×s matrices exist only one block of rows at a time (``memory_budget`` bytes, and at most
``CACHE_BLOCK`` so every pass runs from cache); each block's statistics are per-row reductions,
so any blocking gives the same numbers. KL uses log P_ij = S_ij − lse_i and
log P̂_ij = log K_ij − log D_i (K = φ(Q)φ(K)ᵀ): one log per entry. Causal blocks stop at their
last visible key. Shapes: x (..., l, d), y (..., s, d) pre-scaled (x·y is the logit), v (..., s, e).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from explorer.exact import DEFAULT_MEMORY_BUDGET, row_blocks, scores, visible_keys
from explorer.linear import SMALL_NORMALIZER

ENTRY_SAMPLE = 20_000  # sampled entries of P̂ − P kept for histograms
LOG2E, LN2 = math.log2(math.e), math.log(2.0)


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


ROW_STATS = ("sq_err", "tv", "kl", "sq_ref", "unif_sq", "unif_tv", "unif_kl")


class _EntrySample:
    """ENTRY_SAMPLE flat indices (h, i, j) of the n×l×s entries, drawn once from ``seed``."""

    def __init__(self, n: int, l: int, s: int, seed: int) -> None:
        total = n * l * s
        if total <= ENTRY_SAMPLE:
            flat = torch.arange(total)
        else:
            generator = torch.Generator().manual_seed(seed)
            flat = torch.randint(total, (ENTRY_SAMPLE,), generator=generator)
        self.row = (flat // s) % l  # (k,)
        order = torch.argsort(self.row, stable=True)
        self.row, self.head, self.key = self.row[order], flat[order] // (l * s), flat[order] % s
        self.values = torch.zeros(len(flat), dtype=torch.float64)

    def take(self, diff: torch.Tensor, rows: slice) -> None:
        """Copy the sampled entries of one block (keys past the block's last are 0)."""
        lo, hi = torch.searchsorted(self.row, torch.tensor([rows.start, rows.stop])).tolist()
        keys = self.key[lo:hi]
        seen = keys < diff.shape[-1]  # (k',)
        index = (self.head[lo:hi][seen], self.row[lo:hi][seen] - rows.start, keys[seen])
        picked = diff[tuple(t.to(diff.device) for t in index)]
        self.values[lo:hi][seen] = picked.cpu().double()


def _kl_exact(p: torch.Tensor, p_hat: torch.Tensor) -> torch.Tensor:
    """KL(P_i ‖ P̂_i) entry by entry: +inf where P̂ ≤ 0 but P > 0 (signed maps, underflow)."""
    log_p = torch.where(p > 0, p.log(), torch.zeros_like(p))
    log_p_hat = torch.where(p_hat > 0, p_hat.log(), torch.zeros_like(p_hat))
    kl = (p * (log_p - log_p_hat)).sum(-1)  # (..., r)
    ok = ((p_hat > 0) | (p == 0)).all(-1)
    return torch.where(ok, kl, torch.full_like(kl, math.inf))


def _block(s_blk, k_blk, hidden, bound, counts, sample, rows) -> tuple[torch.Tensor, ...]:
    """Row statistics of one block from base-2 scores S₂ = log₂e·XYᵀ and K = φ(Q)φ(K)ᵀ.

    Both (n, r, keys), overwritten. P = 2^(S₂ − max)/Z (exp2 is the fast one on CPUs), so
    log₂ P = S₂ − max − log₂ Z without a log; KL = ln 2·Σ P (log₂ P − log₂ P̂).
    """
    start = rows.start
    s_blk -= s_blk.amax(-1, keepdim=True)  # S₂ − max, −inf where hidden
    p = torch.exp2(s_blk)  # (n, r, keys)
    z = p.sum(-1, keepdim=True)
    p /= z
    if hidden is not None:
        k_blk[..., start:].masked_fill_(hidden, 0.0)
        s_blk[..., start:].masked_fill_(hidden, 0.0)  # P·S is 0 there, not 0·(−inf)
    mass = p.sum(-1, keepdim=True)  # Σ_j P_ij = 1 up to rounding
    diff = torch.mul(p, s_blk, out=s_blk)  # scratch from here on
    p_log_p = diff.sum(-1, keepdim=True) - torch.log2(z) * mass  # Σ P log₂ P
    d = k_blk.sum(-1, keepdim=True)  # (n, r, 1)
    small = d.abs() <= SMALL_NORMALIZER * bound.unsqueeze(-1)
    p_hat = k_blk.div_(torch.where(small, torch.ones_like(d), d))  # P̂, in place
    any_small = bool(small.any())
    if any_small:
        p_hat.masked_fill_(small, 0.0)
    torch.sub(p_hat, p, out=diff)  # P̂ − P
    sample.take(diff, rows)
    sq_err = torch.linalg.vector_norm(diff, dim=-1).square_()
    max_abs = diff.abs_().amax()
    tv = 0.5 * diff.sum(-1)
    torch.sub(p, 1.0 / counts, out=diff)  # P − uniform
    if hidden is not None:
        diff[..., start:].masked_fill_(hidden, 0.0)
    unif_sq = torch.linalg.vector_norm(diff, dim=-1).square_()
    unif_tv = 0.5 * diff.abs_().sum(-1)
    if hidden is not None:
        p_hat[..., start:].masked_fill_(hidden, 1.0)  # log 1 = 0 where P = 0
    if any_small or float(p_hat.amin()) <= 0.0:  # signed maps or underflow: entry by entry
        kl = _kl_exact(p, p_hat)
    else:
        p_log_p_hat = p_hat.log2_().mul_(p).sum(-1, keepdim=True)  # Σ P log₂ P̂
        kl = (p_log_p - p_log_p_hat).squeeze(-1) * LN2
    unif_kl = p_log_p.squeeze(-1) * LN2 + counts.squeeze(-1).log()
    sq_ref = torch.linalg.vector_norm(p, dim=-1).square_()
    return (sq_err, tv, kl, sq_ref, unif_sq, unif_tv, unif_kl), max_abs


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
    batch = torch.broadcast_shapes(x.shape[:-2], y.shape[:-2], phi_q.shape[:-2], phi_k.shape[:-2])
    n, l, s, dev = math.prod(batch), x.shape[-2], y.shape[-2], x.device

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t.expand(*batch, *t.shape[-2:]).reshape(n, *t.shape[-2:])  # (n, ·, ·)

    x, y, phi_q, phi_k = flat(x), flat(y), flat(phi_q), flat(phi_k.to(phi_q.dtype))
    k_norms = phi_k.norm(dim=-1)  # (n, s)
    seen = k_norms.cumsum(-1) if causal else k_norms.sum(-1, keepdim=True).expand(n, s)
    last = torch.arange(l, device=dev).clamp(max=s - 1)
    bound = phi_q.norm(dim=-1) * seen[:, last]  # (n, l): |φ(x_i)|·Σ_{j visible}|φ(y_j)|
    stats = torch.empty(len(ROW_STATS), n, l, dtype=phi_q.dtype, device=dev)
    max_abs = torch.zeros((), dtype=phi_q.dtype, device=dev)
    sample = _EntrySample(n, l, s, seed)
    row_bytes = 4 * n * s * phi_q.element_size()  # S, P, K and one scratch block
    for rows in row_blocks(l, row_bytes, memory_budget):
        keys = visible_keys(rows, s, causal)
        s_blk = scores(x, y, rows, causal=causal, scale=LOG2E, keys=keys)  # (n, r, keys)
        k_blk = phi_q[:, rows] @ phi_k[:, :keys].transpose(-2, -1)  # (n, r, keys)
        hidden = None
        if causal and keys > rows.start:  # keys rows.start..keys−1 are hidden from some rows
            pos = torch.arange(rows.start, rows.stop, device=dev).unsqueeze(-1)  # (r, 1)
            hidden = torch.arange(rows.start, keys, device=dev) > pos  # (r, keys − start)
        counts = torch.full((rows.stop - rows.start, 1), float(s), device=dev)
        if causal:
            counts = (torch.arange(rows.start, rows.stop, device=dev) + 1.0).clamp(max=s)[:, None]
        block, block_max = _block(
            s_blk, k_blk, hidden, bound[:, rows], counts.to(x.dtype), sample, rows
        )
        for index, values in enumerate(block):
            stats[index, :, rows] = values
        max_abs = torch.maximum(max_abs, block_max)
    row = dict(zip(ROW_STATS, stats.cpu().double().numpy(), strict=True))  # (n, l) each
    kl, finite = row["kl"], np.isfinite(row["kl"])
    return {
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
    rms = float(torch.linalg.vector_norm(exact_output.cpu().double())) / math.sqrt(
        max(1, exact_output[..., 0].numel())
    )
    row_err = torch.linalg.vector_norm((approx_output - exact_output).cpu().double(), dim=-1)
    row_err = row_err.reshape(-1, x.shape[-2]).cpu().numpy() / (rms or 1.0)  # (n, l)
    return ErrorMetrics(
        output_relative_error=relative_error(approx_output, exact_output),
        uniform_baseline_error=relative_error(baseline, exact_output),
        output_max_abs_error=float((approx_output - exact_output).abs().max()),
        row_output_error=row_err,
        **weights,
    )
