"""One block of the report's K stack against the shared exact P, and the cells' columns.

``block_stats`` turns φ(Q)φ(K)ᵀ of a block of rows, for g stacked slots (seeds or m), into the
operations of ``block_statistics.weight_block`` and ``row_statistics``: P̂ = K/D (hidden entries
0; D ≈ 0 rows zeroed; underflowed rows of exponential maps recomputed in the log domain),
Σ(P̂ − P)², ½Σ|P̂ − P|, max |P̂ − P| and KL(P ‖ P̂) (``row_kl``); ``weights_fields`` and
``output_fields`` sum them into the ``ErrorMetrics`` scalars of each cell, and ``cell_table``
lays the cells out as columns. Shapes: the stack K (g, n, r, s), P (n, r, s).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from explorer.attention.blocks import block_cap
from explorer.attention.normalizers import SMALL_NORMALIZER
from explorer.experiments.report_exact import ExactHeads
from explorer.reference.block_statistics import row_kl


def stack_rows(row_bytes: int, memory_budget: int, device: torch.device) -> int:
    """Query rows per block of the K stack, one row of which (every slot, head and key) has
    ``row_bytes``: the stack and its scratch take a quarter of the budget each at most, and on
    a CPU ``blocks.block_cap`` (the passes over a block then run from cache)."""
    cap = min(memory_budget // 4, block_cap(device))
    return max(1, cap // max(1, row_bytes))


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


def weights_fields(stats, exact: ExactHeads, chosen: torch.Tensor) -> dict[str, np.ndarray]:
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
