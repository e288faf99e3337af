"""The cells of a report for one block of heads and one feature map: every m, every seed at once.

W of the largest m is drawn once per (projection, seed) from the seed's ``features`` stream; its
first m rows are the draw of m (``kernels.projections``: draws are nested), so each cell's φ is
``compare``'s. φ(x), φ(y) of the seeds are stacked on a leading axis and go through
``linear_attention`` (the approximate output, as in ``compare``) and, against the shared exact
P (``report_exact``), through the operations of ``block_statistics.weight_block`` and
``row_statistics``: P̂ = K/D with K = φ(Q)φ(K)ᵀ (hidden entries 0; D ≈ 0 rows zeroed; underflowed
rows of exponential maps recomputed in the log domain), Σ(P̂ − P)², ½Σ|P̂ − P|, KL(P ‖ P̂).
A fitted map (``learned``) is fitted once per (m, seed) and block of heads, and its cells cover
its held-out rows only, output errors and baseline included, as ``compare``'s do.
Shapes: seeds stacked as g: φ(x) (g, n, l, m'), φ(y) (g, n, s, m'), K (g, n, r, s).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from explorer.attention.blocks import block_cap
from explorer.attention.linear import linear_attention
from explorer.attention.log_domain import log_domain_weights, underflow_floor
from explorer.attention.normalizers import SMALL_NORMALIZER, visible_sum
from explorer.cancel import checkpoint
from explorer.experiments.report_exact import ExactHeads, _norms
from explorer.kernels.feature_maps import FeatureMap, Features
from explorer.reference.block_statistics import row_kl
from explorer.reference.metrics import uniform_output

STAT_NAMES = ("sq_err", "tv", "kl")
# Stack the seeds' φ for the P̂ statistics (one batch) or run them one by one: stacking copies
# every φ, which costs more than it saves where φ is wide and L short (the sample: m' ≫ L).
SEED_BATCH = False


def stack_rows(row_bytes: int, memory_budget: int, device: torch.device) -> int:
    """Query rows per block of the K stack, one row of which (every slot, head and key) has
    ``row_bytes``: the stack and its scratch take a quarter of the budget each at most, and on
    a CPU ``blocks.block_cap`` (the passes over a block then run from cache)."""
    cap = min(memory_budget // 4, block_cap(device))
    return max(1, cap // max(1, row_bytes))


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


def block_stats(
    k_blk: torch.Tensor,
    exact: ExactHeads,
    where,
    *,
    bound: torch.Tensor | None,
    floor,
    fix: Callable[[int, torch.Tensor], torch.Tensor],
    positions: torch.Tensor,
    values: torch.Tensor | None = None,
    scratch: torch.Tensor | None = None,
):
    """sq_err, tv, kl (g, n, r), max |P̂ − P| (g, n) and P̂V (g, n, r, e) or None of one block.

    ``k_blk`` (g, n, r, s) is φ(Q)φ(K)ᵀ of the rows ``where`` of U (true ``positions``), hidden
    entries not yet zeroed; it is overwritten. ``bound`` (g, n, r): signed maps' |φ(x_i)|·Σ|φ(y_j)|
    (None: unsigned); ``floor``: the underflow floor of exponential maps (a number or (g, 1, 1, 1))
    or None; ``fix(slot, rows)`` the exact P̂ (n, r', s) of the block's true rows ``rows``;
    ``scratch``: a flat buffer of at least k_blk's size for P̂ − P (None: allocated here).
    """
    p = exact.p[:, where]  # (n, r, s)
    hidden = None if exact.hidden is None else exact.hidden[where]  # (r, s)
    if hidden is not None:
        k_blk.masked_fill_(hidden, 0.0)
    d = k_blk.sum(-1, keepdim=True)  # (g, n, r, 1)
    small = d <= 0 if bound is None else d.abs() <= SMALL_NORMALIZER * bound[..., None]
    under = None
    if floor is not None:
        under = d < floor
        small &= ~under
    p_hat = k_blk.div_(torch.where(small, torch.ones_like(d), d))
    if bool(small.any()):
        p_hat.masked_fill_(small, 0.0)
    if under is not None and bool(under.any()):
        for slot in range(p_hat.shape[0]):  # rare: extreme norms
            mask = under[slot].squeeze(-1)  # (n, r)
            if bool(mask.any()):
                picked = mask.any(0).nonzero().squeeze(-1)
                fixed = torch.zeros_like(p_hat[slot])
                fixed[:, picked] = fix(slot, positions[picked])
                p_hat[slot][mask] = fixed[mask]
    weighted = None if values is None else p_hat @ values  # (g, n, r, e)
    if scratch is None:
        diff = p_hat - p  # (g, n, r, s)
    else:  # the first numel entries of a reused buffer: no fresh pages to fault in
        diff = torch.sub(p_hat, p, out=scratch[: p_hat.numel()].view(p_hat.shape))
    sq_err = torch.linalg.vector_norm(diff, dim=-1).square_()
    diff.abs_()
    max_abs = diff.flatten(2).amax(-1)
    tv = 0.5 * diff.sum(-1)
    if hidden is not None:
        p_hat.masked_fill_(hidden, 1.0)  # log 1 = 0 where P = 0
    kl = row_kl(p, p_hat, exact.p_log_p[:, where], exact.positive[:, where])
    return sq_err, tv, kl, max_abs, weighted


def _row_stats(
    exact: ExactHeads,
    features: list[Features],
    chosen: torch.Tensor,
    softmax,
    memory_budget: int,
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
    scratch = torch.empty(g * n * min(step, r_all) * s, dtype=phi_q.dtype, device=phi_q.device)
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


def _weights_fields(stats, exact: ExactHeads, chosen: torch.Tensor) -> dict[str, np.ndarray]:
    """The attention-matrix fields of ``ErrorMetrics`` (``fused_pass._summary``), each (g, n)."""
    sq_err, tv, kl = (t.cpu().double().numpy() for t in stats[:3])  # (g, n, r)
    g = sq_err.shape[0]

    def exact_row(t: torch.Tensor) -> np.ndarray:  # (n, u) → (g, n, r)
        return np.broadcast_to(t[:, chosen].cpu().double().numpy(), sq_err.shape)

    sq_ref, finite = exact_row(exact.sq_ref).sum(-1), np.isfinite(kl)
    defined = np.where(finite, kl, 0.0).sum(-1) / np.maximum(1, finite.sum(-1))
    return {
        "weights_relative_error": np.sqrt(sq_err.sum(-1) / sq_ref),
        "uniform_weights_error": np.sqrt(exact_row(exact.unif_sq).sum(-1) / sq_ref),
        "max_abs_error": stats[3].cpu().double().numpy(),
        "row_tv_mean": tv.mean(-1),
        "uniform_row_tv_mean": exact_row(exact.unif_tv).mean(-1),
        "row_kl_mean": np.where(finite.all(-1), kl.mean(-1), np.inf),
        "row_kl_mean_defined": np.where(finite.any(-1), defined, np.nan),
        "uniform_row_kl_mean": exact_row(exact.unif_kl).mean(-1),
        "kl_undefined_rows": (~finite).sum(-1),
        "rows_evaluated": np.full((g, sq_err.shape[1]), sq_err.shape[-1]),
    }


OUTPUT_FIELDS = ("output_relative_error", "uniform_baseline_error", "output_max_abs_error")


def output_fields(out_err: np.ndarray, out_max: np.ndarray, baseline: np.ndarray):
    """The output fields, each (g, n), from the (g, n) errors and the (n,) baseline."""
    return {
        "output_relative_error": out_err,
        "uniform_baseline_error": np.broadcast_to(baseline, out_err.shape),
        "output_max_abs_error": out_max,
    }


def cell_table(
    num_features, seeds, fields: dict[str, np.ndarray], outputs: dict[str, np.ndarray] | None
) -> dict[str, np.ndarray]:
    """The cells of one block of g slots × n heads as columns (flat arrays, slot-major): slot i
    is ``num_features[i]`` features and seed index ``seeds[i]``; ``fields`` and ``outputs``
    (None: no V) hold (g, n) arrays."""
    g, n = fields["weights_relative_error"].shape
    columns = {
        "num_features": np.repeat(np.asarray(num_features), n),
        "seed": np.repeat(np.asarray(seeds), n),
        "head": np.tile(np.arange(n), g),
    }
    if outputs is None:
        outputs = {key: np.full((g, n), np.nan) for key in OUTPUT_FIELDS}
    columns |= {key: np.asarray(values).reshape(-1) for key, values in outputs.items()}
    columns |= {key: np.asarray(values).reshape(-1) for key, values in fields.items()}
    return columns


def joined(tables: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Column tables with the same columns, one after the other."""
    return {key: np.concatenate([t[key] for t in tables]) for key in tables[0]}


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
) -> dict[str, np.ndarray]:
    """Metrics of every (m, seed) of one map for heads x (n, l, d): one row per head and cell.

    ``draws`` holds each seed's W of the largest m (None: deterministic map); ``seed_rows``
    each seed's query rows (None: every row). Columns (``cell_table``): num_features, seed
    (index), head (index in the block) and the ``ErrorMetrics`` scalars.
    """
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
            stats = _row_stats(exact, [features[i] for i in seeds], chosen, softmax, memory_budget)
            fields = _weights_fields(stats, exact, chosen)
            mine = None if outputs is None else {k: t[seeds] for k, t in outputs.items()}
            tables.append(cell_table([m] * len(seeds), seeds, fields, mine))
    return joined(tables)
