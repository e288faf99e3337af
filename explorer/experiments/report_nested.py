"""Cells of a nested map: φ once per seed at the largest m, every m's K by cumulative sums.

For the maps with ``FeatureMap.nested``, φ of W[:m] is the columns ``columns(m, M)`` of φ of W
up to factors that cancel in P̂ = K/D (the stabiliser's row maxima, 1/√m), so K_m is the sum
of φ(Q)φ(K)ᵀ over the column blocks up to m: one product per block instead of one per m, and
one φ per seed instead of one per (m, seed). The m are stacked as g through
``report_cells.block_stats``. Outputs: P̂V where P̂ covers every row (that is the linear-attention
output, ŷ = P̂V, unusable and underflowed rows included), else linear attention on m's columns.
Exponential maps' φ(x) carry M's stabiliser, f_i = e^(b_i(m) − b_i(M)) ≤ 1 times m's (b: the row
maximum of the stabilised exponents over m's columns or all M'), so each step rescales the rows
into m's own units: K_m = K_(m before)·f(before)/f(m) + (φ(x)/f(m))·φ(y)ᵀ over the new columns.
K_m is then ``compare``'s, to rounding, with the same floor; a row whose m-columns underflowed in
M's units (extreme norms) is rebuilt from its exact exponents.
Shapes: φ(x) (n, l, M'), φ(y) (n, s, M'), the stack of K (g, n, r, s) for g = #m.
"""

from __future__ import annotations

import torch

from explorer.attention.linear import linear_attention
from explorer.attention.log_domain import log_domain_weights, underflow_floor
from explorer.attention.normalizers import visible_sum
from explorer.cancel import checkpoint
from explorer.experiments.report_cells import (
    _no_outputs,
    _norms,
    _outputs,
    _weights_fields,
    block_stats,
)
from explorer.experiments.report_exact import ExactHeads
from explorer.kernels.feature_maps import FeatureMap, Features


def _take(t: torch.Tensor, cols: tuple[slice, ...]) -> torch.Tensor:
    """The columns of m: one view, or a concatenation of the [f(Wx) | g(Wx)] blocks."""
    return t[..., cols[0]] if len(cols) == 1 else torch.cat([t[..., c] for c in cols], -1)


def _subset(features: Features, cols: tuple[slice, ...]) -> Features:
    """φ of W[:m] (up to cancelling factors) as a ``Features`` of its own."""
    logits = None
    if features.exponential:

        def logits(rows):
            return tuple(_take(t, cols) for t in features.logits(rows))

    query, key = _take(features.query, cols), _take(features.key, cols)
    return Features(query, key, signed=features.signed, logits=logits)


def _steps(fmap: FeatureMap, ms: list[int], total: int) -> list[list[slice]]:
    """The columns each m adds to the one before it (ms ascending)."""
    steps, before = [], 0
    for m in ms:
        steps.append([slice(c.start + before, c.stop) for c in fmap.columns(m, total)])
        before = m
    return steps


def _squares(phi: torch.Tensor, steps: list[list[slice]]) -> torch.Tensor:
    """Σ φ² over each m's columns, cumulatively. (n, t, M') → (g, n, t)"""
    parts = [sum(phi[..., c].square().sum(-1) for c in step) for step in steps]
    return torch.stack(parts).cumsum(0)


def _row_factors(phi_q: torch.Tensor, steps: list[list[slice]]) -> torch.Tensor:
    """f_i = max over m's columns of φ(x_i) in M's units, e^(b_i(m) − b_i(M)). → (g, n, l)"""
    parts = [torch.stack([phi_q[..., c].amax(-1) for c in step]).amax(0) for step in steps]
    return torch.stack(parts).cummax(0).values


def _rebuild(block, lost, features, cols, positions, key_t, logits: dict) -> None:
    """Rows ``lost`` (n, r) of one K block (n, r, s) from their exact exponents, in m's units.

    ``logits`` caches the block's query exponents (in M's units) across the m of one block.
    """
    picked = lost.any(0).nonzero().squeeze(-1)  # (r',) rows of the block
    key = tuple(picked.tolist())
    if key not in logits:
        logits.clear()
        logits[key] = features.logits(positions[picked])[0]  # (n, r', M')
    own = _take(logits[key], cols)  # (n, r', m')
    own = (own - own.amax(-1, keepdim=True)).exp_()  # compare's φ(x) of these rows
    keys = torch.cat([key_t[:, c] for c in cols], 1)  # (n, m', s)
    rows = block[:, picked]  # (n, r', s)
    block[:, picked] = torch.where(lost[:, picked].unsqueeze(-1), own @ keys, rows)


def _nested_stats(exact, features, fmap, ms, total, chosen, softmax, memory_budget, values):
    """``report_cells._row_stats`` for every m at once, and P̂V (g, n, l, e) if ``values``."""
    phi_q, phi_k = features.query, features.key
    n, l, s, dtype = phi_q.shape[0], phi_q.shape[-2], phi_k.shape[-2], phi_q.dtype
    g, positions = len(ms), exact.rows[chosen]  # (r,) true query positions
    index = chosen if isinstance(chosen, slice) else positions
    causal, window = softmax.causal, softmax.window
    steps, cols = _steps(fmap, ms, total), [fmap.columns(m, total) for m in ms]
    bound = None
    if features.signed:  # |φ(x_i)|·Σ_visible |φ(y_j)| of each m, as in ``_row_stats``
        k_norms = _squares(phi_k, steps).sqrt_()  # (g, n, s)
        seen = visible_sum(k_norms, l, window=window)[..., index] if causal else None
        seen = seen if causal else k_norms.sum(-1, True)
        bound = _squares(phi_q, steps)[..., index].sqrt_() * seen  # (g, n, r)
    floor = None
    if features.exponential:
        widths = [fmap.feature_dim(m, phi_q.shape[-1]) for m in ms]
        floor = torch.tensor([underflow_floor(s, w, dtype) for w in widths], dtype=dtype)
        floor = floor.to(phi_q.device).reshape(g, 1, 1, 1)
        factors = _row_factors(phi_q, steps)[..., index]  # (g, n, r)
    tiny = torch.finfo(dtype).tiny

    def fix(slot: int, rows: torch.Tensor) -> torch.Tensor:
        log_q, log_k = _subset(features, cols[slot]).logits(rows)  # (n, r', m'), (n, s, m')
        return log_domain_weights(log_q, log_k, rows, causal=causal, window=window)

    r_all = len(positions)
    out = torch.empty(3, g, n, r_all, dtype=dtype, device=phi_q.device)
    max_abs = torch.zeros(g, n, dtype=dtype, device=phi_q.device)
    weighted = None
    if values is not None:
        weighted = torch.empty(g, n, r_all, values.shape[-1], dtype=dtype, device=phi_q.device)
    step = max(1, memory_budget // max(1, 4 * g * n * s * phi_q.element_size()))
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
        stack = torch.empty(g, n, fq.shape[1], s, dtype=dtype, device=phi_q.device)
        f = None if floor is None else factors[..., rows].clamp_min(tiny)  # (g, n, r)
        lost, cache = None, {}
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
                if f is not None:  # an entry under float's range in M's units: rebuild
                    under = (fq[..., c] < tiny).any(-1)  # (n, r)
                    lost = under if lost is None else lost | under
            if lost is not None and bool((lost & (f[i] < 1.0)).any()):
                _rebuild(stack[i], lost & (f[i] < 1.0), features, cols[i], positions[rows],
                         key_t, cache)  # fmt: skip
        sq_err, tv, kl, blk_max, blk_out = block_stats(
            stack,
            exact,
            where,
            bound=None if bound is None else bound[..., rows],
            floor=floor,
            fix=fix,
            positions=positions[rows],
            values=values,
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
) -> list[dict]:
    """``report_cells.map_cells`` for a nested map (same records, same numbers up to rounding)."""
    if not fmap.nested:
        raise ValueError(f"feature map {fmap.name!r} is not nested in m")
    mask = {"causal": softmax.causal, "window": softmax.window}
    ms = sorted(num_features)
    baseline = None if v is None else exact.baseline_error.numpy()
    records = []
    for seed, w in enumerate(draws):
        checkpoint()
        total = w.shape[0]
        features = fmap(x, y, w)  # (n, l, M'), (n, s, M')
        rows = seed_rows[seed]
        if rows is None:
            chosen, every = slice(0, len(exact.rows)), True
        else:
            chosen = torch.searchsorted(exact.rows, rows.to(exact.rows.device))
            every = False
        stats, outs = _nested_stats(
            exact, features, fmap, ms, total, chosen, softmax, memory_budget,
            values=v.to(x.dtype) if v is not None and every else None,
        )  # fmt: skip
        fields = _weights_fields(stats, exact, chosen)  # each (g, n)
        outputs = _no_outputs
        if v is not None:
            if outs is None:  # sampled rows: linear attention over every row, per m
                outs = torch.stack([
                    linear_attention(
                        _subset(features, fmap.columns(m, total)), v, **mask,
                        chunk_size=chunk_size,
                    ).output
                    for m in ms
                ])  # fmt: skip
            diff = outs - exact.exact_output  # (g, n, l, e)
            out_err = torch.stack([_norms(d) for d in diff]) / exact.exact_norm  # (g, n)
            out_max = diff.abs().flatten(2).amax(-1).cpu().double()  # (g, n)
            outputs = _outputs(out_err.numpy(), out_max.numpy(), baseline)
        for slot, m in enumerate(ms):
            for head in range(x.shape[0]):
                record = {"num_features": m, "seed": seed, "head": head}
                record.update(outputs(slot, head))
                record.update({key: values[slot, head] for key, values in fields.items()})
                records.append(record)
    return records
