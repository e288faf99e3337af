"""Cells of a nested map: φ once per seed at the largest m, every m's K by cumulative sums.

For the maps with ``FeatureMap.nested``, φ of W[:m] is the columns ``columns(m, M)`` of φ of W
up to factors that cancel in P̂ = K/D (the stabiliser's row maxima, 1/√m), so K_m is the sum
of φ(Q)φ(K)ᵀ over the column blocks up to m: one product per block instead of one per m, and
one φ per seed instead of one per (m, seed). The m are stacked as g through
``report_stats.block_stats``. Outputs: P̂V where P̂ covers every row (that is the linear-attention
output, ŷ = P̂V, unusable and underflowed rows included), else linear attention on m's columns;
for that the columns are first put in ``prefix_order`` (two-function maps lay out
[f(Wx) | g(Wx)]), so that each m's φ is a view, not a concatenated copy.
Exponential maps' φ(x) carry M's stabiliser, f_i = e^(b_i(m) − b_i(M)) ≤ 1 times m's (b: the row
maximum of the stabilised exponents over m's columns or all M'), so each step rescales the rows
into m's own units: K_m = K_(m before)·f(before)/f(m) + (φ(x)/f(m))·φ(y)ᵀ over the new columns.
K_m is then ``compare``'s, to rounding, with the same floor; a row whose m-columns underflowed in
M's units (extreme norms) is rebuilt from its exact exponents.
Shapes: φ(x) (n, l, M'), φ(y) (n, s, M'), the stack of K (g, n, r, s) for g = #m.
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.attention.linear import linear_attention
from explorer.attention.log_domain import log_domain_weights, underflow_floor
from explorer.attention.normalizers import visible_sum
from explorer.cancel import checkpoint
from explorer.experiments.report_columns import (
    column_steps,
    prefix_order,
    reordered,
    step_extremes,
    step_squares,
    subset,
    take,
)
from explorer.experiments.report_exact import ExactHeads, _norms
from explorer.experiments.report_stats import (
    block_stats,
    cell_table,
    joined,
    output_fields,
    stack_rows,
    weights_fields,
)
from explorer.experiments.workspace import Workspace
from explorer.kernels.feature_maps import FeatureMap


def _rebuild(block, lost, features, cols, positions, key_t, logits: dict) -> None:
    """Rows ``lost`` (n, r) of one K block (n, r, s) from their exact exponents, in m's units.

    ``logits`` caches the block's query exponents (in M's units) across the m of one block.
    """
    picked = lost.any(0).nonzero().squeeze(-1)  # (r',) rows of the block
    key = tuple(picked.tolist())
    if key not in logits:
        logits.clear()
        logits[key] = features.logits(positions[picked])[0]  # (n, r', M')
    own = take(logits[key], cols)  # (n, r', m')
    own = (own - own.amax(-1, keepdim=True)).exp_()  # compare's φ(x) of these rows
    keys = take(key_t.transpose(-2, -1), cols).transpose(-2, -1)  # (n, m', s)
    rows = block[:, picked]  # (n, r', s)
    block[:, picked] = torch.where(lost[:, picked].unsqueeze(-1), own @ keys, rows)


def _nested_stats(exact, features, cols, chosen, softmax, memory_budget, values, workspace):
    """``report_cells._row_stats`` for every m at once, and P̂V (g, n, l, e) if ``values``.

    ``cols`` holds each m's columns of ``features`` (ascending m).
    """
    phi_q, phi_k = features.query, features.key
    n, l, s = phi_q.shape[0], phi_q.shape[-2], phi_k.shape[-2]
    dtype, dev = phi_q.dtype, phi_q.device
    g, positions = len(cols), exact.rows[chosen]  # (r,) true query positions
    index = chosen if isinstance(chosen, slice) else positions
    causal, window = softmax.causal, softmax.window
    steps = column_steps(cols)

    bound = None
    if features.signed:  # |φ(x_i)|·Σ_visible |φ(y_j)| of each m, as in ``_row_stats``
        k_norms = step_squares(phi_k, steps).sqrt_()  # (g, n, s)
        seen = visible_sum(k_norms, l, window=window)[..., index] if causal else None
        seen = seen if causal else k_norms.sum(-1, True)
        q_sq = step_squares(phi_q, steps)
        bound = q_sq[..., index].sqrt_() * seen  # (g, n, r)
    floor = None
    if features.exponential:
        widths = [sum(c.stop - c.start for c in m_cols) for m_cols in cols]
        floor = torch.tensor([underflow_floor(s, w, dtype) for w in widths], dtype=dtype)
        floor = floor.to(dev).reshape(g, 1, 1, 1)
        # f_i = max over m's columns of φ(x_i) in M's units, e^(b_i(m) − b_i(M)): (g, n, r)
        # and the lowest entry there: under float's range, an entry compare keeps may be lost
        factors, lowest = (t[..., index] for t in step_extremes(phi_q, steps))
    tiny = torch.finfo(dtype).tiny

    def fix(slot: int, rows: torch.Tensor) -> torch.Tensor:
        log_q, log_k = subset(features, cols[slot]).logits(rows)  # (n, r', m'), (n, s, m')
        return log_domain_weights(log_q, log_k, rows, causal=causal, window=window)

    r_all = len(positions)
    out = torch.empty(3, g, n, r_all, dtype=dtype, device=dev)
    max_abs = torch.zeros(g, n, dtype=dtype, device=dev)
    weighted = None
    if values is not None:
        weighted = torch.empty(g, n, r_all, values.shape[-1], dtype=dtype, device=dev)
    step = stack_rows(g * n * s * phi_q.element_size(), memory_budget, dev)
    block_numel = g * n * min(step, r_all) * s
    stack_all = workspace.view("stack", (block_numel,), dtype=dtype, device=dev)
    scratch = workspace.view("scratch", (block_numel,), dtype=dtype, device=dev)
    key_t = phi_k.transpose(-2, -1)  # (n, M', s)
    for start in range(0, r_all, step):
        checkpoint()
        rows = slice(start, min(r_all, start + step))
        if isinstance(chosen, slice):
            where = slice(chosen.start + rows.start, chosen.start + rows.stop)
            fq = phi_q[:, where]  # (n, r, M'): a view
        else:
            where = chosen[rows]
            fq = phi_q[:, positions[rows]]  # (n, r, M'): gathered once for every m
        r = fq.shape[1]
        stack = stack_all[: g * n * r * s].view(g, n, r, s)  # contiguous, reused
        f = rebuilt = None
        if floor is not None:
            f = factors[..., rows].clamp_min(tiny)  # (g, n, r)
            # a row whose m-columns hold an entry under float's range in M's units, while
            # m's own maximum is under M's (f < 1): rebuilt from its exponents, in m's units
            rebuilt = (lowest[..., rows] < tiny) & (f < 1.0)  # (g, n, r)
            if not bool(rebuilt.any()):
                rebuilt = None
        cache = {}
        for i, added in enumerate(steps):  # K_m = K_(previous m) + the columns m adds
            scale = None if f is None else f[i].reciprocal().unsqueeze(-1)  # (n, r, 1)
            if i and f is not None:  # into m's units: × f(before)/f(m) ≤ 1 per row
                torch.mul(stack[i - 1], (f[i - 1] / f[i]).unsqueeze(-1), out=stack[i])
            elif i:
                stack[i].copy_(stack[i - 1])
            for part, c in enumerate(added):
                q = fq[..., c] if scale is None else fq[..., c] * scale  # (n, r, |c|)
                if i or part:
                    stack[i].baddbmm_(q, key_t[:, c])
                else:
                    torch.bmm(q, key_t[:, c], out=stack[i])
            if rebuilt is not None and bool(rebuilt[i].any()):
                _rebuild(stack[i], rebuilt[i], features, cols[i], positions[rows], key_t, cache)
        sq_err, tv, kl, blk_max, blk_out = block_stats(
            stack,
            exact,
            where,
            bound=None if bound is None else bound[..., rows],
            floor=floor,
            fix=fix,
            positions=positions[rows],
            values=values,
            scratch=scratch,
        )
        max_abs = torch.maximum(max_abs, blk_max)
        out[0, ..., rows], out[1, ..., rows], out[2, ..., rows] = sq_err, tv, kl
        if weighted is not None:
            weighted[..., rows, :] = blk_out
    return (out[0], out[1], out[2], max_abs), weighted


def nested_map_cells(
    fmap: FeatureMap,
    x: torch.Tensor,
    y: torch.Tensor,
    v: torch.Tensor | None,
    exact: ExactHeads,
    draws: list[torch.Tensor],
    seed_rows: tuple[torch.Tensor | None, ...],
    num_features: tuple[int, ...],
    softmax,
    *,
    memory_budget: int,
    chunk_size: int,
    workspace: Workspace | None = None,
) -> dict[str, np.ndarray]:
    """``report_cells.map_cells`` for a nested map (same cells, same numbers up to rounding)."""
    if not fmap.nested:
        raise ValueError(f"feature map {fmap.name!r} is not nested in m")
    workspace = Workspace() if workspace is None else workspace
    mask = {"causal": softmax.causal, "window": softmax.window}
    ms = sorted(num_features)
    baseline = None if v is None else exact.baseline_error.numpy()
    tables = []
    for seed, w in enumerate(draws):
        checkpoint()
        total = w.shape[0]
        rows = seed_rows[seed]
        features = fmap(x, y, w)  # (n, l, M'), (n, s, M')
        if rows is None:  # every row: the outputs are P̂V, the column blocks serve as they are
            chosen, every = slice(0, len(exact.rows)), True
            cols = [fmap.columns(m, total) for m in ms]
        else:  # linear attention per m: each m's columns a prefix, so m's φ is a view
            chosen = torch.searchsorted(exact.rows, rows.to(exact.rows.device))
            every = False
            blocks = prefix_order(fmap, ms, total)
            features = reordered(features, blocks)
            cols = [(slice(0, fmap.feature_dim(m, x.shape[-1])),) for m in ms]
        stats, outs = _nested_stats(
            exact, features, cols, chosen, softmax, memory_budget,
            values=v.to(x.dtype) if v is not None and every else None, workspace=workspace,
        )  # fmt: skip
        fields = weights_fields(stats, exact, chosen)  # each (g, n)
        outputs = None
        if v is not None:
            if outs is None:  # sampled rows: linear attention over every row, per m
                outs = torch.stack([
                    linear_attention(subset(features, c), v, **mask, chunk_size=chunk_size)
                    .output
                    for c in cols
                ])  # fmt: skip
            diff = outs.sub_(exact.exact_output)  # (g, n, l, e)
            out_err = torch.stack([_norms(d) for d in diff]) / exact.exact_norm  # (g, n)
            out_max = diff.abs_().flatten(2).amax(-1).cpu().double()  # (g, n)
            outputs = output_fields(out_err.numpy(), out_max.numpy(), baseline)
        tables.append(cell_table(ms, [seed] * len(ms), fields, outputs))
    return joined(tables)
