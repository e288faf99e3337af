"""One pass over blocks of rows of P and P̂: per-row error statistics, PV and pooled maps.

For each (heads, rows) block: S₂ = log₂e·XYᵀ and K = φ(Q)φ(K)ᵀ, then P, P̂ and the row
statistics of ``block_statistics``; the same P gives those rows of the exact output PV
and both are pooled for display, so S and K are computed once per comparison. ``query_rows``
restricts the pass to a sorted subset of query rows (their causal masks follow their true
positions): the attention-matrix metrics of long inputs on a row sample. Masks: causal, a
sliding window and soft-capped logits (``attention.masks``). Key-side tensors are read as
slabs: a block of query heads that share one key slab (grouped-query heads: q (h_kv, g, ·)
against k (h_kv, 1, ·)) multiplies with it directly, never with a repeated copy of K or V.
Shapes: x (..., l, d), y (..., s, d) pre-scaled (x·y is the logit), φ (..., l|s, m), v (..., s, e).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from explorer.attention.blocks import DEFAULT_MEMORY_BUDGET, block_cap, head_row_blocks
from explorer.attention.log_domain import log_domain_weights, underflow_floor
from explorer.attention.masks import check_mask, hidden_keys, key_span, softcap, visible_counts
from explorer.attention.normalizers import visible_sum
from explorer.cancel import checkpoint
from explorer.device import compute_dtype
from explorer.kernels.feature_maps import Features
from explorer.reference.block_statistics import ROW_STATS, EntrySample, row_statistics, weight_block
from explorer.reference.display_maps import AttentionMaps, MapPooler

LOG2E = math.log2(math.e)


@dataclass(frozen=True, kw_only=True)
class PassOptions:
    """How a reference pass runs: masking, which rows it evaluates, what else it returns."""

    causal: bool = False  # query i sees keys j ≤ i (SDPA's is_causal)
    window: int | None = None  # sliding window: query i sees keys i − window < j ≤ i
    softcap: float | None = None  # logits t become c·tanh(t/c) before the softmax (Gemma 2)
    max_side: int | None = None  # pool P and P̂ to at most this side for display; None: no maps
    query_rows: torch.Tensor | None = None  # sorted rows behind the matrix metrics; None: all
    output_rows: torch.Tensor | None = None  # sorted rows behind the output errors; None: all
    memory_budget: int = DEFAULT_MEMORY_BUDGET  # bytes of l×s blocks alive at once
    seed: int = 0  # draws the entries sampled for histograms (their own stream)


@dataclass(frozen=True, kw_only=True)
class RowPass:
    """What one pass over the row blocks of P and P̂ produced."""

    weights: dict[str, object]  # the attention-matrix fields of ErrorMetrics
    exact_output: torch.Tensor | None  # (..., l, e) = PV; None without values
    maps: AttentionMaps | None  # pooled P, P̂; None without max_side


def _summary(stats: torch.Tensor, max_abs: torch.Tensor, sample: EntrySample, rows: int) -> dict:
    """The ErrorMetrics fields from the (len(ROW_STATS), n, r) per-row statistics."""
    row = dict(zip(ROW_STATS, stats.cpu().double().numpy(), strict=True))  # (n, r) each
    kl, finite = row["kl"], np.isfinite(row["kl"])
    return {
        "weights_relative_error": math.sqrt(row["sq_err"].sum() / row["sq_ref"].sum()),
        "uniform_weights_error": math.sqrt(row["unif_sq"].sum() / row["sq_ref"].sum()),
        "max_abs_error": float(max_abs),
        "row_tv_mean": float(row["tv"].mean()),
        "uniform_row_tv_mean": float(row["unif_tv"].mean()),
        # A mean over every evaluated row: +inf when any row's KL is undefined. The mean over
        # the defined rows alone is reported beside it, with their count, never in its place.
        "row_kl_mean": float(kl.mean()) if finite.all() else math.inf,
        "row_kl_mean_defined": float(kl[finite].mean()) if finite.any() else None,
        "uniform_row_kl_mean": float(row["unif_kl"].mean()),
        "kl_undefined_rows": int((~finite).sum()),
        "rows_evaluated": rows,
        "heads_evaluated": int(kl.shape[0]),
        "row_tv": row["tv"],
        "row_kl": kl,
        "entry_error_sample": sample.values.numpy(),
    }


class _Slabs:
    """A key-side tensor (..., s, ·) read per query head: ``take(heads)`` is its one slab
    (s, ·) when those heads share it, else the gathered (h', s, ·) stack."""

    def __init__(self, tensor: torch.Tensor, batch: torch.Size) -> None:
        lead = tensor.shape[:-2]
        self.flat = tensor.reshape(-1, *tensor.shape[-2:])  # (n_slabs, ·, ·)
        index = torch.arange(self.flat.shape[0]).reshape(lead or (1,))
        self.ids = index.expand(batch).reshape(-1)  # (n,): the slab of each query head

    def take(self, heads: slice) -> torch.Tensor:
        ids = self.ids[heads]
        first = int(ids[0])
        if bool((ids == first).all()):
            return self.flat[first]  # (·, ·): a view, shared by the block's heads
        if torch.equal(ids, torch.arange(first, first + len(ids))):
            return self.flat[first : first + len(ids)]  # (h', ·, ·): one slab a head, a view
        return self.flat[ids.to(self.flat.device)]  # (h', ·, ·): mixed slabs, gathered

    def run(self) -> int | None:
        """Heads per slab when slabs are contiguous equal runs (grouped heads), else None."""
        n = len(self.ids)
        size = n // max(1, self.flat.shape[0])
        if size >= 1 and n % size == 0 and torch.equal(self.ids, torch.arange(n) // size):
            return size
        return None


def row_pass(
    x: torch.Tensor,
    y: torch.Tensor,
    features: Features,
    options: PassOptions,
    *,
    values: torch.Tensor | None = None,
) -> RowPass:
    """Attention-matrix errors block by block (never the whole l×s matrix), with PV and maps.

    ``options.query_rows`` (sorted, distinct indices < l) evaluates only those rows; PV and the
    maps need every row, so ``values`` and ``options.max_side`` must then be None.
    """
    causal, window, max_side = options.causal, options.window, options.max_side
    query_rows, memory_budget, seed = options.query_rows, options.memory_budget, options.seed
    if query_rows is not None and (values is not None or max_side is not None):
        raise ValueError("the exact output and the maps need every row: no query_rows with them")
    check_mask(causal=causal, window=window)
    phi_q, phi_k = features.query, features.key
    shapes = [t.shape[:-2] for t in (x, y, phi_q, phi_k, values) if t is not None]
    batch = torch.broadcast_shapes(*shapes)
    n, l, s, dev = math.prod(batch), x.shape[-2], y.shape[-2], x.device

    def flat(t: torch.Tensor) -> torch.Tensor:  # query side, one row block per head
        return t.expand(*batch, *t.shape[-2:]).reshape(n, *t.shape[-2:])  # (n, ·, ·)

    work = compute_dtype(torch.promote_types(x.dtype, phi_q.dtype))  # half: float32 sums
    x, phi_q = flat(x).to(work), flat(phi_q).to(work)
    keys_t = _Slabs((y.to(work) * LOG2E).transpose(-2, -1), batch)  # (·, d, s): S₂ = X·y_t
    phi_k_t = _Slabs(phi_k.to(work).transpose(-2, -1), batch)  # (·, m, s): K = φ(Q)·phi_k_t
    value_slabs = None if values is None else _Slabs(values.to(work), batch)  # (·, s, e)
    host = torch.arange(l) if query_rows is None else query_rows.cpu()  # (r,): no device sync
    positions = host.to(dev)
    if query_rows is not None:
        x, phi_q = x[:, positions], phi_q[:, positions]  # (n, r, d), (n, r, m)
    r_all = len(positions)
    bound = None
    if features.signed:  # the cancellation test needs max |D_i| = |φ(x_i)|·Σ_visible |φ(y_j)|
        k_norms = phi_k_t.flat.norm(dim=-2)[phi_k_t.ids.to(dev)]  # (n, s): small, per head
        seen = visible_sum(k_norms, l, window=window) if causal else k_norms.sum(-1, True)
        bound = phi_q.norm(dim=-1) * (seen[:, positions] if causal else seen)  # (n, r)
    floor = underflow_floor(s, phi_q.shape[-1], work) if features.exponential else None
    stats = torch.empty(len(ROW_STATS), n, r_all, dtype=phi_q.dtype, device=dev)
    max_abs = torch.zeros((), dtype=phi_q.dtype, device=dev)
    sample = EntrySample(n, r_all, s, seed)
    pooler = None if max_side is None else MapPooler(n, l, s, max_side=max_side, device=dev)
    output = None
    if value_slabs is not None:
        output = torch.empty(n, l, value_slabs.flat.shape[-1], dtype=phi_q.dtype, device=dev)
    buffers = 4 if pooler is None else 5  # S, P, K and scratch (+ the rows pooled for maps)
    row_bytes = buffers * s * phi_q.element_size()  # one row of one head
    runs = [slab.run() or 1 for slab in (keys_t, phi_k_t, value_slabs) if slab is not None]
    group = max(runs) if max(runs) > 1 else None  # blocks inside a group read one slab
    blocks = head_row_blocks(
        n, r_all, row_bytes, memory_budget, cache_block=block_cap(dev), group=group
    )
    cap = None if options.softcap is None else options.softcap * LOG2E  # in base-2 units
    for heads, rows in blocks:
        checkpoint()  # milliseconds per block: a cancelled comparison stops here
        pos = positions[rows]  # (r,) true query positions, sorted
        first, stop = int(host[rows.start]), int(host[rows.stop - 1]) + 1
        keys = key_span(first, stop, s, causal=causal)  # causal: later keys are all hidden
        s_blk = softcap(x[heads, rows] @ keys_t.take(heads)[..., :keys], cap)  # (h', r, keys)
        k_blk = phi_q[heads, rows] @ phi_k_t.take(heads)[..., :keys]  # (h', r, keys), as S
        start = 0 if window is not None else first  # the mask covers keys start..keys−1
        hidden = None
        if causal and keys > start:
            hidden = hidden_keys(pos, keys, causal=True, window=window)[:, start:]
            s_blk[..., start:].masked_fill_(hidden, float("-inf"))
        counts = visible_counts(pos, s, causal=causal, window=window).to(x.dtype)

        def recompute(mask, heads=heads, pos=pos, keys=keys):  # exact P̂ rows, log domain
            chosen = mask.any(0).nonzero().squeeze(-1)  # rows of this block that need it
            log_q, log_k = features.logits(pos[chosen])
            log_q = flat(log_q)[heads].to(work)  # (h', r', m)
            log_k = _Slabs(log_k.to(work), batch).take(heads)[..., :keys, :]
            log_k = log_k.expand(log_q.shape[0], *log_k.shape[-2:])  # (h', keys, m): a view
            exact = log_domain_weights(log_q, log_k, pos[chosen], causal=causal, window=window)
            out = torch.zeros(*mask.shape, keys, dtype=work, device=dev)  # (h', r, keys)
            out[:, chosen] = exact
            return out

        block = weight_block(
            s_blk,
            k_blk,
            hidden,
            start,
            bound=None if bound is None else bound[heads, rows],
            floor=floor,
            recompute=recompute if features.exponential else None,
        )
        if output is not None:
            output[heads, rows] = block.p @ value_slabs.take(heads)[..., :keys, :]  # (h', r, e)
        if pooler is not None:
            pooler.add(block.p, block.p_hat, heads, rows)
        row_stats, block_max = row_statistics(block, hidden, counts[:, None], sample, heads, rows)
        for index, row_values in enumerate(row_stats):
            stats[index, heads, rows] = row_values
        max_abs = torch.maximum(max_abs, block_max)
    if output is not None:
        output = output.reshape(*batch, l, output.shape[-1])  # (..., l, e)
    maps = None if pooler is None else pooler.maps()
    weights = _summary(stats, max_abs, sample, r_all)
    return RowPass(weights=weights, exact_output=output, maps=maps)
