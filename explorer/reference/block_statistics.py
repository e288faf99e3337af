"""One block of rows of P and P̂, and the per-row statistics the metrics sum over blocks.

P = softmax(S) from base-2 scores S₂ = log₂e·XYᵀ: P = 2^(S₂ − max)/Z (exp2 is the fast one on
CPUs), so log₂ P = S₂ − max − log₂ Z without a log. P̂ = K/D with K = φ(Q)φ(K)ᵀ and D = K·1; rows
with |D| ≈ 0 are zeros, exactly as in ``linear_attention``. KL = ln 2·Σ P (log₂ P − log₂ P̂): one
log per entry. Hidden (causal) entries are 0 in both. Shapes: blocks (n, r, keys).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from explorer.attention.normalizers import SMALL_NORMALIZER
from explorer.streams import stream

ENTRY_SAMPLE = 20_000  # sampled entries of P̂ − P kept for histograms
LN2 = math.log(2.0)
ROW_STATS = ("sq_err", "tv", "kl", "sq_ref", "unif_sq", "unif_tv", "unif_kl")


class EntrySample:
    """ENTRY_SAMPLE flat indices h·l·s + i·s + j of the n×l×s entries (the seed's entry stream).

    Kept sorted, so the entries of a (heads, rows) block are one contiguous run of them.
    """

    def __init__(self, n: int, l: int, s: int, seed: int) -> None:
        total = n * l * s
        if total <= ENTRY_SAMPLE:
            self.flat = torch.arange(total)
        else:
            flat = stream("entry_sample", seed).generator().integers(total, size=ENTRY_SAMPLE)
            self.flat = torch.sort(torch.from_numpy(flat)).values  # (k,)
        self.shape = (l, s)
        self.values = torch.zeros(len(self.flat), dtype=torch.float64)

    def take(self, diff: torch.Tensor, heads: slice, rows: slice) -> None:
        """Copy the sampled entries of one block (keys past the block's last are 0).

        ``heads`` spans several heads only with all rows, so the block is a contiguous range.
        """
        l, s = self.shape
        first = heads.start * l * s + rows.start * s
        stop = (heads.stop - 1) * l * s + rows.stop * s
        lo, hi = torch.searchsorted(self.flat, torch.tensor([first, stop])).tolist()
        flat = self.flat[lo:hi]  # (k',)
        keys = flat % s
        seen = keys < diff.shape[-1]
        index = (flat // (l * s) - heads.start, (flat // s) % l - rows.start, keys)
        picked = diff[tuple(t[seen].to(diff.device) for t in index)]
        self.values[lo:hi][seen] = picked.cpu().double()


@dataclass(frozen=True, kw_only=True)
class WeightBlock:
    """P and P̂ of one block of rows, with what the statistics still need."""

    p: torch.Tensor  # (n, r, keys) exact weights, 0 where hidden
    p_hat: torch.Tensor  # (n, r, keys) approximate weights, 0 where hidden or |D| ≈ 0
    p_log_p: torch.Tensor  # (n, r, 1): Σ_j P log₂ P
    scratch: torch.Tensor  # (n, r, keys): free memory (the scores')
    start: int  # the causal mask ``hidden`` covers keys start..keys−1


def weight_block(
    s_blk: torch.Tensor,
    k_blk: torch.Tensor,
    hidden: torch.Tensor | None,
    start: int,
    *,
    bound: torch.Tensor | None,
    floor: float | None,
    recompute: Callable[[torch.Tensor], torch.Tensor] | None,
) -> WeightBlock:
    """P from base-2 scores and P̂ from kernel values, both (n, r, keys) and overwritten.

    ``hidden`` (r, keys − start) marks causal entries. Signed maps pass ``bound`` (n, r), the
    largest value each |D_i| could take, Σ_j |φ(x_i)|·|φ(y_j)| over visible keys: rows below
    ``SMALL_NORMALIZER`` of it are cancellation noise, set to 0. Unsigned maps cannot cancel:
    only D_i = 0 is unusable. Exponential maps pass ``floor`` and ``recompute``: rows whose D_i
    underflowed below the floor get their exact P̂ rows (n, r, keys) from ``recompute(mask)``.
    """
    s_blk -= s_blk.amax(-1, keepdim=True)  # S₂ − max, −inf where hidden
    p = torch.exp2(s_blk)  # (n, r, keys)
    z = p.sum(-1, keepdim=True)
    p /= z
    if hidden is not None:
        k_blk[..., start:].masked_fill_(hidden, 0.0)
        s_blk[..., start:].masked_fill_(hidden, 0.0)  # P·S is 0 there, not 0·(−inf)
    mass = p.sum(-1, keepdim=True)  # Σ_j P_ij = 1 up to rounding
    p_log_p = torch.mul(p, s_blk, out=s_blk).sum(-1, keepdim=True) - torch.log2(z) * mass
    d = k_blk.sum(-1, keepdim=True)  # (n, r, 1)
    # signed: cancellation noise below a fraction of max |D_i|; unsigned: only D_i = 0
    small = d <= 0 if bound is None else d.abs() <= SMALL_NORMALIZER * bound.unsqueeze(-1)
    under = None
    if floor is not None:
        under = d < floor
        small &= ~under
    p_hat = k_blk.div_(torch.where(small, torch.ones_like(d), d))  # P̂, in place
    if bool(small.any()):
        p_hat.masked_fill_(small, 0.0)
    if under is not None and bool(under.any()) and recompute is not None:
        mask = under.squeeze(-1)  # (n, r)
        p_hat[mask] = recompute(mask)[mask]
    return WeightBlock(p=p, p_hat=p_hat, p_log_p=p_log_p, scratch=s_blk, start=start)


def kl_entrywise(p: torch.Tensor, p_hat: torch.Tensor) -> torch.Tensor:
    """KL(P_i ‖ P̂_i) entry by entry: +inf where P̂ ≤ 0 but P > 0 (signed maps, underflow)."""
    log_p = torch.where(p > 0, p.log(), torch.zeros_like(p))
    log_p_hat = torch.where(p_hat > 0, p_hat.log(), torch.zeros_like(p_hat))
    kl = (p * (log_p - log_p_hat)).sum(-1)  # (..., r)
    ok = ((p_hat > 0) | (p == 0)).all(-1)
    return torch.where(ok, kl, torch.full_like(kl, math.inf))


def visible_positive(p: torch.Tensor, hidden: torch.Tensor | None, start: int = 0) -> torch.Tensor:
    """Rows whose every visible P_ij is > 0 (hidden entries, keys start.., do not count).

    Shapes: p (..., r, keys), hidden (r, keys − start) → (..., r).
    """
    positive = p > 0
    if hidden is not None:
        positive[..., start:] |= hidden
    return positive.all(-1)


def row_kl(
    p: torch.Tensor,
    p_hat: torch.Tensor,
    p_log_p: torch.Tensor,
    positive: torch.Tensor | Callable[[], torch.Tensor],
) -> torch.Tensor:
    """KL(P_i ‖ P̂_i) = ln 2·(Σ_j P log₂ P − Σ_j P log₂ P̂) per row, +inf where P̂_ij ≤ 0 < P_ij.

    Row by row: rows with every P̂_ij > 0 take the one-log formula, rows with some P̂_ij ≤ 0 are
    +inf when every visible P_ij > 0 (``positive``, ``visible_positive``) and go entry by entry
    (``kl_entrywise``) otherwise, so a signed map's blocks skip the logs their rows never use.
    ``p_hat`` (..., r, s) holds 1 at hidden entries and is overwritten; ``p`` (.., r, s) and
    ``p_log_p``, ``positive`` (.., r; or a function giving it, called only when some P̂_ij ≤ 0)
    broadcast against it. → (..., r)
    """
    if float(p_hat.amin()) > 0.0:  # the common case, one fast reduction
        return (p_log_p - p_hat.log2_().mul_(p).sum(-1)) * LN2
    bad = p_hat.amin(-1) <= 0.0  # (..., r): some P̂_ij ≤ 0
    kl = torch.full(bad.shape, math.inf, dtype=p_hat.dtype, device=p_hat.device)
    positive = positive() if callable(positive) else positive
    unsure = bad & ~positive  # P has zeros too: are they where P̂ ≤ 0?
    picked = None
    if bool(unsure.any()):
        picked = kl_entrywise(p.expand_as(p_hat)[unsure], p_hat[unsure])  # (k,)
    if not bool(bad.all()):  # bad rows' sums are nan or −inf: each row is its own sum
        fast = (p_log_p - p_hat.log2_().mul_(p).sum(-1)) * LN2
        kl = torch.where(bad, kl, fast)
    if picked is not None:
        kl[unsure] = picked
    return kl


def row_statistics(
    block: WeightBlock,
    hidden: torch.Tensor | None,
    counts: torch.Tensor,
    sample: EntrySample,
    heads: slice,
    rows: slice,
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """The ROW_STATS of one block, each (n, r), and its max |P̂ − P|; P̂ is overwritten.

    ``counts`` (r, 1) holds the keys each row sees, for the uniform baseline 1/count; ``heads``
    and ``rows`` place the block in the entry sample.
    """
    p, p_hat, diff, start = block.p, block.p_hat, block.scratch, block.start
    torch.sub(p_hat, p, out=diff)  # P̂ − P
    sample.take(diff, heads, rows)
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
    positive = partial(visible_positive, p, hidden, start)  # only if some P̂_ij ≤ 0
    kl = row_kl(p, p_hat, block.p_log_p.squeeze(-1), positive)
    unif_kl = block.p_log_p.squeeze(-1) * LN2 + counts.squeeze(-1).log()
    sq_ref = torch.linalg.vector_norm(p, dim=-1).square_()
    return (sq_err, tv, kl, sq_ref, unif_sq, unif_tv, unif_kl), max_abs
