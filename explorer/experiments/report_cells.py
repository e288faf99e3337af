"""The cells of a report for one block of heads and one feature map: every m, every seed at once.

W of the largest m is drawn once per (projection, seed) from the seed's ``features`` stream; its
first m rows are the draw of m (``kernels.projections``: draws are nested), so each cell's φ is
``compare``'s. φ(x), φ(y) of the seeds are stacked on a leading axis and go through
``linear_attention`` (the approximate output, as in ``compare``) and, against the shared exact
P (``report_exact``), through ``report_stats.block_stats`` (P̂ = K/D with K = φ(Q)φ(K)ᵀ,
Σ(P̂ − P)², ½Σ|P̂ − P|, KL(P ‖ P̂), as ``compare`` computes them). Maps nested in m take the
faster path of ``report_nested`` instead; this one serves every map.
A fitted map (``learned``) is fitted once per (m, seed) and block of heads, and its cells cover
its held-out rows only, output errors and baseline included, as ``compare``'s do.
Shapes: seeds stacked as g: φ(x) (g, n, l, m'), φ(y) (g, n, s, m'), K (g, n, r, s).
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.attention.linear import linear_attention
from explorer.attention.log_domain import log_domain_weights, underflow_floor
from explorer.attention.normalizers import visible_sum
from explorer.cancel import checkpoint
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
from explorer.kernels.feature_maps import FeatureMap, Features
from explorer.reference.metrics import uniform_output

# Stack the seeds' φ for the P̂ statistics (one batch) or run them one by one: stacking copies
# every φ, which costs more than it saves where φ is wide and L short (the sample: m' ≫ L).
SEED_BATCH = False


def stacked(features: list[Features]) -> Features:
    """The seeds' features on a new leading axis, with their log-domain exponents stacked."""
    first = features[0]
    if len(features) == 1:  # a view, no copy
        lone = first.logits

        def one(rows):
            return tuple(t.unsqueeze(0) for t in lone(rows))

        query, key = first.query.unsqueeze(0), first.key.unsqueeze(0)
        return Features(query, key, signed=first.signed, logits=None if lone is None else one)
    logits = None
    if first.exponential:

        def logits(rows):
            pairs = [f.logits(rows) for f in features]
            return torch.stack([q for q, _ in pairs]), torch.stack([k for _, k in pairs])

    return Features(
        torch.stack([f.query for f in features]),  # (g, n, l, m')
        torch.stack([f.key for f in features]),  # (g, n, s, m')
        signed=first.signed,
        logits=logits,
    )


def _row_stats(
    exact: ExactHeads,
    features: list[Features],
    chosen: torch.Tensor,
    softmax,
    memory_budget: int,
    workspace: Workspace,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """sq_err, tv, kl (g, n, r) and max |P̂ − P| (g, n) over the rows ``chosen`` (into U)."""
    both = stacked(features)
    phi_q, phi_k = both.query, both.key
    g, n, s, width = phi_k.shape[0], phi_k.shape[1], phi_k.shape[-2], phi_k.shape[-1]
    positions = exact.rows[chosen]  # (r,) true query positions
    # every row of U (a slice): U is then 0..l−1, so views replace gathered copies
    index = chosen if isinstance(chosen, slice) else positions
    causal, window = softmax.causal, softmax.window
    bound = None
    if both.signed:  # max |D_i| = |φ(x_i)|·Σ_visible |φ(y_j)|, as in ``fused_pass.row_pass``
        k_norms = phi_k.norm(dim=-1)  # (g, n, s)
        seen = visible_sum(k_norms, phi_q.shape[-2], window=window) if causal else None
        seen = seen[..., index] if causal else k_norms.sum(-1, True)
        bound = phi_q[..., index, :].norm(dim=-1) * seen  # (g, n, r)
    floor = underflow_floor(s, width, phi_q.dtype) if both.exponential else None

    def fix(slot: int, rows: torch.Tensor) -> torch.Tensor:
        log_q, log_k = features[slot].logits(rows)  # (n, r', m'), (n, s, m')
        return log_domain_weights(log_q, log_k, rows, causal=causal, window=window)

    r_all = len(positions)
    out = torch.empty(3, g, n, r_all, dtype=phi_q.dtype, device=phi_q.device)
    max_abs = torch.zeros(g, n, dtype=phi_q.dtype, device=phi_q.device)
    step = stack_rows(g * n * s * phi_q.element_size(), memory_budget, phi_q.device)
    size = (g * n * min(step, r_all) * s,)
    scratch = workspace.view("scratch", size, dtype=phi_q.dtype, device=phi_q.device)
    key_t = phi_k.transpose(-2, -1)  # (g, n, m', s)
    for start in range(0, r_all, step):
        checkpoint()
        rows = slice(start, min(r_all, start + step))
        if isinstance(chosen, slice):
            where = slice(chosen.start + rows.start, chosen.start + rows.stop)
            k_blk = phi_q[..., where, :] @ key_t  # (g, n, r, s)
        else:
            where = chosen[rows]
            k_blk = phi_q[..., positions[rows], :] @ key_t
        sq_err, tv, kl, blk_max, _ = block_stats(
            k_blk,
            exact,
            where,
            bound=None if bound is None else bound[..., rows],
            floor=floor,
            fix=fix,
            positions=positions[rows],
            scratch=scratch,
        )
        max_abs = torch.maximum(max_abs, blk_max)
        out[0, ..., rows], out[1, ..., rows], out[2, ..., rows] = sq_err, tv, kl
    return out[0], out[1], out[2], max_abs


def map_cells(
    fmap: FeatureMap,
    x: torch.Tensor,
    y: torch.Tensor,
    v: torch.Tensor | None,
    exact: ExactHeads,
    draws: list[torch.Tensor | None],
    seed_rows: tuple[torch.Tensor | None, ...],
    num_features: tuple[int, ...],
    softmax,
    *,
    memory_budget: int,
    chunk_size: int,
    workspace: Workspace | None = None,
) -> dict[str, np.ndarray]:
    """Metrics of every (m, seed) of one map for heads x (n, l, d): one row per head and cell.

    ``draws`` holds each seed's W of the largest m (None: deterministic map); ``seed_rows``
    each seed's query rows (None: every row). Columns (``cell_table``): num_features, seed
    (index), head (index in the block) and the ``ErrorMetrics`` scalars.
    """
    workspace = Workspace() if workspace is None else workspace
    mask = {"causal": softmax.causal, "window": softmax.window}
    held = fmap.held_out(x.shape[-2])  # a fitted map: every metric on its held-out rows
    if held is not None:
        seed_rows = tuple(held if r is None else r[torch.isin(r, held)] for r in seed_rows)
    in_u = None
    if exact.rows is not None and seed_rows[0] is not None:
        in_u = [torch.searchsorted(exact.rows, rows.to(exact.rows.device)) for rows in seed_rows]
    exact_output, exact_norm = exact.exact_output, exact.exact_norm
    baseline = None if v is None else exact.baseline_error.numpy()
    if held is not None and v is not None:  # the output errors of ``compare``'s output_rows
        index = held.to(exact_output.device)
        uniform = uniform_output(v.to(exact_output.dtype), x.shape[-2], **mask)[:, index]
        exact_output = exact_output[:, index]  # (n, r, e)
        exact_norm = _norms(exact_output)
        baseline = (_norms(uniform - exact_output) / exact_norm).numpy()
    every = slice(0, len(exact.rows))  # every row of U: slices, not gathered copies
    if in_u is None and SEED_BATCH:
        groups = [(list(range(len(draws))), every)]
    else:
        groups = [([seed], every if in_u is None else in_u[seed]) for seed in range(len(draws))]
    tables = []
    for m in num_features:
        checkpoint()
        features = [fmap(x, y, None if w is None else w[:m]) for w in draws]  # nested: W[:m]
        outputs = None
        if v is not None:
            outs = [linear_attention(f, v, **mask, chunk_size=chunk_size).output for f in features]
            if held is not None:
                outs = [out[:, held.to(out.device)] for out in outs]  # (n, r, e)
            diff = torch.stack([out - exact_output for out in outs])  # (g, n, l|r, e)
            out_err = torch.stack([_norms(d) for d in diff]) / exact_norm  # (g, n)
            out_max = diff.abs().flatten(2).amax(-1).cpu().double()  # (g, n)
            outputs = output_fields(out_err.numpy(), out_max.numpy(), baseline)
        for seeds, chosen in groups:
            chosen_features = [features[i] for i in seeds]
            stats = _row_stats(exact, chosen_features, chosen, softmax, memory_budget, workspace)
            fields = weights_fields(stats, exact, chosen)
            mine = None if outputs is None else {k: t[seeds] for k, t in outputs.items()}
            tables.append(cell_table([m] * len(seeds), seeds, fields, mine))
    return joined(tables)
