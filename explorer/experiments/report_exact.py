"""The exact side of a block of heads, computed once and shared by every cell of a report.

For query rows U (every row, or the union of the seeds' row samples) and keys j: base-2 scores
S₂ = log₂e·x·y (soft-capped, causal/window entries −∞), P = 2^(S₂ − max)/Z, Σ_j P log₂ P, and
the uniform-attention statistics of each row (P − 1/#visible, KL(P ‖ uniform) = ln 2·ΣP log₂P +
ln #visible), exactly the operations of ``reference.block_statistics.weight_block`` and
``row_statistics``; the exact output Y = PV (or SDPA over every row when rows are sampled, as
``reference.metrics.reference_errors`` does) and the uniform baseline's output error per head.
A report cell then only needs P̂ = φ(Q)φ(K)ᵀ/D against this P (``report_cells``).
Shapes: x (n, l, d), y (n, s, d), v (n, s, e) for n query heads (key heads repeated per
query head); P (n, u, s) for u = |U| rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from explorer.attention.exact import fast_softmax_attention
from explorer.attention.masks import hidden_keys, softcap, visible_counts
from explorer.errors import ExplorerError
from explorer.experiments.compare import sampled_rows, scaled_tensors
from explorer.experiments.config import Softmax, resolve_softmax
from explorer.experiments.report_grid import ReportGrid
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.reference.block_statistics import visible_positive
from explorer.reference.metrics import uniform_output

LOG2E = math.log2(math.e)
LN2 = math.log(2.0)


@dataclass(frozen=True, eq=False, kw_only=True)
class HeadTensors:
    """One layer's scaled x, y, v per query head, on the grid's device (``compare``'s)."""

    x: torch.Tensor  # (h, l, d) = q·√scale
    y: torch.Tensor  # (h, s, d) = k·√scale of each query head's key head
    v: torch.Tensor | None  # (h, s, e)
    softmax: Softmax


def head_tensors(inputs: AttentionInputs, grid: ReportGrid) -> HeadTensors:
    """``compare.scaled_tensors`` for the grid's settings, flattened to query heads."""
    config = grid.cell_config(grid.feature_maps[0], grid.projections[0], grid.max_features, 0)
    x, y, v = scaled_tensors(config, inputs)  # (h_kv, g, l, d), (h_kv, 1, s, d), (h_kv, 1, s, e)
    h_kv, g = x.shape[:2]

    def per_head(t: torch.Tensor) -> torch.Tensor:  # (h_kv, 1, s, ·) → (h, s, ·)
        return t.expand(h_kv, g, *t.shape[-2:]).reshape(h_kv * g, *t.shape[-2:])

    return HeadTensors(
        x=x.reshape(h_kv * g, *x.shape[-2:]),  # (h, l, d)
        y=per_head(y),
        v=None if v is None else per_head(v),
        softmax=resolve_softmax(config, inputs),
    )


def seed_rows(grid: ReportGrid, num_rows: int) -> tuple[torch.Tensor | None, ...]:
    """Each seed's sorted query rows behind the P̂ metrics (``compare.sampled_rows``)."""
    return tuple(
        sampled_rows(grid.cell_config(grid.feature_maps[0], grid.projections[0], 1, seed), num_rows)
        for seed in grid.seeds
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class ExactHeads:
    """P and its row statistics over rows U for a block of heads, the exact output, baseline."""

    rows: torch.Tensor  # (u,) sorted query positions U
    p: torch.Tensor  # (n, u, s), 0 where hidden
    p_log_p: torch.Tensor  # (n, u): Σ_j P log₂ P
    positive: torch.Tensor  # (n, u): every visible P_ij > 0 (``block_statistics.row_kl``)
    hidden: torch.Tensor | None  # (u, s) True where causal/window hides the key
    sq_ref: torch.Tensor  # (n, u): Σ_j P²
    unif_sq: torch.Tensor  # (n, u): Σ_j (P − 1/c)²
    unif_tv: torch.Tensor  # (n, u): ½Σ_j |P − 1/c|
    unif_kl: torch.Tensor  # (n, u): KL(P_i ‖ uniform)
    exact_output: torch.Tensor | None  # (n, l, e)
    exact_norm: torch.Tensor | None  # (n,) float64 ‖Y‖_F per head
    baseline_error: torch.Tensor | None  # (n,) float64 uniform-attention output error


def _norms(t: torch.Tensor) -> torch.Tensor:
    """‖t_h‖_F per head in float64, as ``metrics.relative_error`` computes it. (n, ·, ·) → (n,)"""
    return torch.linalg.vector_norm(t.cpu().double().flatten(1), dim=-1)


def exact_heads(
    x: torch.Tensor,
    y: torch.Tensor,
    v: torch.Tensor | None,
    softmax: Softmax,
    rows: torch.Tensor | None,
    *,
    memory_budget: int,
) -> ExactHeads:
    """The exact side of heads x (n, l, d), y (n, s, d) over ``rows`` (None: every row)."""
    n, l, s = x.shape[0], x.shape[-2], y.shape[-2]
    dev, work = x.device, x.dtype
    positions = torch.arange(l, device=dev) if rows is None else rows.to(dev)
    u = len(positions)
    if n * u * s * x.element_size() > memory_budget:
        raise ExplorerError(
            f"the exact attention of a head over {u} rows × {s} keys is "
            f"{u * s * x.element_size() / 2**20:.0f} MB, over the memory budget of "
            f"{memory_budget / 2**20:.0f} MB: sample rows (row_sample) or raise memory_budget"
        )
    scores = x[:, positions] @ (y * LOG2E).transpose(-2, -1)  # (n, u, s)
    scores = softcap(scores, None if softmax.softcap is None else softmax.softcap * LOG2E)
    hidden = hidden_keys(positions, s, causal=softmax.causal, window=softmax.window)  # (u, s)
    if hidden is not None:
        scores.masked_fill_(hidden, float("-inf"))
    scores -= scores.amax(-1, keepdim=True)  # S₂ − max, −inf where hidden
    p = torch.exp2(scores)
    z = p.sum(-1, keepdim=True)
    p /= z
    if hidden is not None:
        scores.masked_fill_(hidden, 0.0)  # P·S is 0 there, not 0·(−inf)
    mass = p.sum(-1, keepdim=True)
    p_log_p = (p * scores).sum(-1, keepdim=True) - torch.log2(z) * mass  # (n, u, 1)
    counts = visible_counts(positions, s, causal=softmax.causal, window=softmax.window)
    counts = counts.to(work)[:, None]  # (u, 1)
    diff = torch.sub(p, 1.0 / counts, out=scores)  # P − uniform
    if hidden is not None:
        diff.masked_fill_(hidden, 0.0)
    unif_sq = torch.linalg.vector_norm(diff, dim=-1).square_()
    unif_tv = 0.5 * diff.abs_().sum(-1)
    unif_kl = p_log_p.squeeze(-1) * LN2 + counts.squeeze(-1).log()
    sq_ref = torch.linalg.vector_norm(p, dim=-1).square_()
    exact = norm = baseline = None
    if v is not None:
        mask = {"causal": softmax.causal, "window": softmax.window}
        if rows is None:
            exact = p @ v.to(work)  # (n, l, e): every row is in P
        else:
            exact = fast_softmax_attention(
                x, y, v, **mask, scale=1.0, memory_budget=memory_budget, cap=softmax.softcap
            )
        uniform = uniform_output(v.to(exact.dtype), l, **mask)  # (n, l, e)
        norm = _norms(exact)
        baseline = _norms(uniform - exact) / norm
    return ExactHeads(
        rows=positions,
        p=p,
        p_log_p=p_log_p.squeeze(-1),
        positive=visible_positive(p, hidden),
        hidden=hidden,
        sq_ref=sq_ref,
        unif_sq=unif_sq,
        unif_tv=unif_tv,
        unif_kl=unif_kl,
        exact_output=exact,
        exact_norm=norm,
        baseline_error=baseline,
    )


def union_rows(per_seed: tuple[torch.Tensor | None, ...]) -> torch.Tensor | None:
    """Sorted union of the seeds' rows; None when some seed evaluates every row."""
    if any(rows is None for rows in per_seed):
        return None
    return torch.unique(torch.cat(per_seed))  # sorted
