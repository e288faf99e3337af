"""FAVOR+ end to end, fused for speed: φ(x) = exp(Wx − |x|²/2)/√m (Performer Lemma 1).

Equals ``linear_attention(positive_features(x, y, W), v, causal=causal)`` (x = q·√scale) up to
rounding, but φ exists one block of ``chunk_size`` rows at a time in reused buffers, never for
the whole sequence. The stabiliser is the registry's, kept running: keys subtract a per-feature
maximum c_r that grows block by block (the state's rows are rescaled by 2^(c_old − c_new) when
it does), queries add c back and subtract their row maximum. Non-causal queries see the final c,
so their normaliser is ≥ 1; causal rows whose normaliser still falls under the underflow floor
are recomputed in the log domain. Logits are in base 2 (exp2 is ~3× faster than exp on CPUs).
Half inputs are computed in float32. Shapes: q (..., l, d), k (..., s, d), v (..., s, e), W (m, d).
"""

from __future__ import annotations

import math
from functools import partial

import torch

from explorer.attention.exact import check_qkv, default_scale
from explorer.attention.linear import LinearAttention
from explorer.attention.log_domain import log_domain_rows, underflow_floor
from explorer.attention.normalizers import flat_rows, out_of_range
from explorer.device import compute_dtype
from explorer.kernels.feature_maps import positive_features

LOG2E = math.log2(math.e)


def favor_chunk(device: torch.device, causal: bool) -> int:
    """Block length of ``favor_attention``: CPU blocks stay in cache, GPU blocks are large."""
    if device.type == "cpu":
        return 128 if causal else 512
    return 1024 if causal else 8192


def favor_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    projection: torch.Tensor,
    *,
    causal: bool = False,
    scale: float | None = None,
    chunk_size: int | None = None,
) -> LinearAttention:
    """FAVOR+ output and normaliser; non-causal normalisers equal ``linear_attention``'s.

    Causal normalisers are in this call's own running units (a positive factor per row away
    from ``positive_features``'); the outputs agree either way.
    """
    check_qkv(q, k, v)
    if projection.dim() != 2 or projection.shape[-1] != q.shape[-1]:
        raise ValueError(f"projection must be (m, {q.shape[-1]}), got {tuple(projection.shape)}")
    if min(q.shape[-2], k.shape[-2], projection.shape[0]) < 1:
        raise ValueError("favor_attention needs at least one query, key and random vector")
    chunk = chunk_size or favor_chunk(q.device, causal)
    if chunk < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk}")
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    work, dev = compute_dtype(q.dtype), q.device
    n, l, s = math.prod(batch), q.shape[-2], k.shape[-2]
    d, e, m = q.shape[-1], v.shape[-1], projection.shape[0]
    q, k, v = (flat_rows(t.to(work), batch) for t in (q, k, v))  # (n, ·, ·)
    root = math.sqrt(default_scale(d) if scale is None else scale)
    # x·w·log₂e = q·(√scale·log₂e·w); |x|²/2 and 1/√m are per-row factors: they cancel.
    w_q = (projection.to(work) * (root * LOG2E)).T.contiguous()  # (d, m)
    half = torch.full((1, m), -0.5 * root**2 * LOG2E, dtype=work, device=dev)
    w_k = torch.cat([w_q, half])  # (d + 1, m): [y, |y|²]·w_k = (w·y − |y|²/2)·log₂e
    c = min(chunk, max(l, s))
    bufs = _FavorBuffers(n, c, d, e, m, causal, work, dev)
    out = torch.empty(n, l, e, dtype=work, device=dev)  # (n, l, e)
    normalizer = torch.empty(n, l, dtype=work, device=dev)  # (n, l)
    shift = torch.full((n, 1, m), -math.inf, dtype=work, device=dev)  # running c_r, base 2
    state = torch.zeros(n, m, e + 1, dtype=work, device=dev)  # Σ_j φ(y_j)[v_j, 1]ᵀ
    for a in range(0, 0 if causal else s, c):
        fk, v1, factor = bufs.keys(k[:, a : a + c], v[:, a : a + c], w_k, shift)
        state.mul_(factor).baddbmm_(fk.transpose(-2, -1), v1)
    for a in range(0, l, c):
        r = min(l, a + c) - a
        if causal and a < s:
            fk, v1, factor = bufs.keys(k[:, a : a + r], v[:, a : a + r], w_k, shift)
            state.mul_(factor)
        fq = bufs.queries(q[:, a : a + r], w_q, shift)  # (n, r, m)
        both = torch.bmm(fq, state, out=_front(bufs.both, n, r, e + 1))  # (n, r, e + 1)
        if causal and a < s:
            within = _front(bufs.within, n, r, fk.shape[1])  # (n, r, r')
            torch.bmm(fq, fk.transpose(-2, -1), out=within)
            within.masked_fill_(bufs.hidden[:r, : fk.shape[1]], 0.0)  # query i sees j ≤ i
            both.baddbmm_(within, v1)
            state.baddbmm_(fk.transpose(-2, -1), v1)
        normalizer[:, a : a + r] = both[..., e]
        # one reciprocal per row, then products: a vector divide costs several multiplies
        torch.mul(both[..., :e], both[..., e:].reciprocal(), out=out[:, a : a + r])
    suspect = normalizer < underflow_floor(s, m, work)  # (n, l): only causal rows can get here
    recomputed = int(suspect.sum())
    if recomputed:
        rows = suspect.any(0).nonzero().squeeze(-1)  # (r,)
        features = positive_features(q * root, k * root, projection.to(work))
        log_q, log_k = features.logits(rows)
        exact, log_d = log_domain_rows(log_q, log_k, v, rows, causal=causal)
        chosen, picked = out[:, rows], normalizer[:, rows]
        chosen[suspect[:, rows]] = exact[suspect[:, rows]]
        picked[suspect[:, rows]] = torch.exp(log_d[suspect[:, rows]])
        out[:, rows], normalizer[:, rows] = chosen, picked
    wild = int(out_of_range(out, v, causal=causal).sum())
    return LinearAttention(
        output=out.reshape(*batch, l, e),
        normalizer=normalizer.reshape(*batch, l),
        negative_rows=0,
        small_rows=0,
        out_of_range_rows=wild,
        recomputed_rows=recomputed,
    )


def _front(buffer: torch.Tensor, *shape: int) -> torch.Tensor:
    """A contiguous view of the given shape on the front of a flat reused buffer."""
    return buffer[: math.prod(shape)].view(shape)


class _FavorBuffers:
    """(n, c, ·) blocks reused by every step: fresh big allocations page-fault on each call."""

    def __init__(self, n: int, c: int, d: int, e: int, m: int, causal: bool, dtype, device):
        new = partial(torch.empty, dtype=dtype, device=device)
        self.feat_k, self.feat_q, self.k1 = new(n * c * m), new(n * c * m), new(n * c * (d + 1))
        self.v1, self.both = new(n * c * (e + 1)), new(n * c * (e + 1))
        self.within = new(n * c * c) if causal else None
        self.hidden = torch.ones(c, c, dtype=torch.bool, device=device).triu(1) if causal else None

    def keys(self, k, v, w_k, shift):
        """2^(ℓ − c)·√m·e^{½…}-scaled φ(y) of a key block; the state's factor 2^(c_old − c_new).

        ``shift`` (n, 1, m) is the running per-feature maximum c, updated in place.
        """
        n, r, d = k.shape
        k1 = _front(self.k1, n, r, d + 1)  # [k, |k|²]
        k1[..., :d] = k
        k1[..., d] = torch.linalg.vecdot(k, k)  # |k|²: one fused pass, not a norm then a square
        f = _front(self.feat_k, n, r, w_k.shape[1])  # (n, r, m)
        torch.matmul(k1, w_k, out=f)  # (w·y − |y|²/2)·log₂e
        new = torch.maximum(f.amax(dim=-2, keepdim=True), shift)  # (n, 1, m)
        factor = torch.exp2(shift - new).transpose(-2, -1)  # (n, m, 1): rescales state rows
        shift.copy_(new)
        f.sub_(shift).exp2_()
        v1 = _front(self.v1, n, r, v.shape[-1] + 1)  # [v, 1]
        v1[..., :-1] = v
        v1[..., -1] = 1.0
        return f, v1, factor

    def queries(self, q, w_q, shift):
        """φ(x) of a query block up to a per-row factor: 2^(w·x·log₂e + c − row max)."""
        n, r, _ = q.shape
        f = _front(self.feat_q, n, r, w_q.shape[1])  # (n, r, m)
        torch.matmul(q, w_q, out=f).add_(shift)
        return f.sub_(f.amax(-1, keepdim=True)).exp2_()
