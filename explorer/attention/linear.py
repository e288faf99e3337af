"""Linear attention with any feature map: Ŷ = D⁻¹ φ(Q)(φ(K)ᵀ V), D = diag(φ(Q) φ(K)ᵀ 1).

Performer (Choromanski et al. 2021) Sec. 2.2 and Katharopoulos et al. 2020. Non-causal costs
O((l + s)·m·e). Causal uses prefix sums over key blocks (Katharopoulos Sec. 3.3.1), block by block
so the extra memory is O(chunk·(m + e) + m·e) instead of the s×m×e of a naive cumsum. D comes out
of the same products as the numerator: V gets a column of ones, [V, 1] (s, e + 1).

Normalisers D_i of signed maps (trig) can be ≤ 0. Nothing is clamped and no eps is added: rows
with D_i < 0 keep their (meaningless but finite) value and are counted; rows whose |D_i| is below
``SMALL_NORMALIZER`` times the largest value it could take, Σ_j |φ(x_i)|·|φ(y_j)|, have no usable
output: it is set to 0 there and they are counted, so no NaN appears silently.
``favor_attention`` is FAVOR+ end to end with the features fused into the products.
Shapes: φ(q) (..., l, m), φ(k) (..., s, m), v (..., s, e) → (..., l, e).
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass
from functools import partial

import torch

from explorer.attention.exact import causal_mask, check_qkv, default_scale
from explorer.device import compute_dtype
from explorer.kernels.feature_maps import positive_features

SMALL_NORMALIZER = 1e-6  # relative to Σ_j |φ(x_i)||φ(y_j)|: below it, D_i is rounding noise
DEFAULT_CHUNK = 128  # causal block length: fine-grained enough to keep the c×c block tiny
LOG2E = math.log2(math.e)


@dataclass(frozen=True)
class LinearAttention:
    """Output and normaliser diagnostics of one linear-attention call."""

    output: torch.Tensor  # (..., l, e)
    normalizer: torch.Tensor  # (..., l): D_i
    negative_rows: int  # rows with D_i < 0 (and not small)
    small_rows: int  # rows with |D_i| ≈ 0: output set to 0


def with_ones(v: torch.Tensor) -> torch.Tensor:
    """[V, 1]: one product then gives numerator and normaliser. Shapes: (..., s, e + 1)."""
    out = torch.ones(*v.shape[:-1], v.shape[-1] + 1, dtype=v.dtype, device=v.device)
    out[..., :-1] = v
    return out


def finish(output: torch.Tensor, normalizer: torch.Tensor, bound: torch.Tensor) -> LinearAttention:
    """Zero (in place) and count the rows whose normaliser is ≈ 0; count negative ones."""
    small = normalizer.abs() <= SMALL_NORMALIZER * bound  # (..., l)
    num_small = int(small.sum())
    if num_small:
        output.masked_fill_(small.unsqueeze(-1), 0.0)  # (..., l, e)
    negative = int(((normalizer < 0) & ~small).sum())
    return LinearAttention(output, normalizer, negative, num_small)


def linear_attention(
    phi_q: torch.Tensor,
    phi_k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
) -> LinearAttention:
    """Ŷ = D⁻¹ φ(Q)(φ(K)ᵀ V), causal by blocked prefix sums. Shapes: → (..., l, e)."""
    if phi_q.shape[-1] != phi_k.shape[-1]:
        raise ValueError(f"feature dims differ: {phi_q.shape[-1]} vs {phi_k.shape[-1]}")
    if phi_k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v lengths differ: {phi_k.shape[-2]} vs {v.shape[-2]}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    v1 = with_ones(v.to(phi_q.dtype))  # (..., s, e + 1)
    if causal:
        both = _causal(phi_q, phi_k, v1, chunk_size)  # (..., l, e + 1)
    else:
        both = phi_q @ (phi_k.transpose(-2, -1) @ v1)  # (..., l, e + 1)
    numerator, normalizer = both[..., :-1], both[..., -1].clone()  # (..., l, e), (..., l)
    bound = _key_norm_bound(phi_q.norm(dim=-1), phi_k.norm(dim=-1), causal)
    return finish(numerator / normalizer.unsqueeze(-1), normalizer, bound)


def _key_norm_bound(q_norms: torch.Tensor, k_norms: torch.Tensor, causal: bool) -> torch.Tensor:
    """|φ(x_i)|·Σ_{j visible} |φ(y_j)| ≥ |D_i|: the scale that 'small' is measured against."""
    if not causal:
        return q_norms * k_norms.sum(-1, keepdim=True)  # (..., l)
    prefix = torch.cumsum(k_norms, dim=-1)  # (..., s)
    last_key = torch.arange(q_norms.shape[-1], device=q_norms.device).clamp(
        max=k_norms.shape[-1] - 1
    )
    return q_norms * prefix[..., last_key]  # (..., l): query i sees keys 0..min(i, s-1)


def _causal(phi_q, phi_k, v1, chunk_size: int) -> torch.Tensor:
    """Blocked prefix sums: state S = Σ_{j<a} φ(k_j)[v_j, 1]ᵀ carried from block to block."""
    batch = torch.broadcast_shapes(phi_q.shape[:-2], phi_k.shape[:-2], v1.shape[:-2])
    num_q, num_k, m, e1 = phi_q.shape[-2], phi_k.shape[-2], phi_q.shape[-1], v1.shape[-1]
    dtype, device = phi_q.dtype, phi_q.device
    state = torch.zeros(*batch, m, e1, dtype=dtype, device=device)  # (..., m, e + 1)
    both = torch.empty(*batch, num_q, e1, dtype=dtype, device=device)  # (..., l, e + 1)
    hidden = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=device).triu(1)
    for start in range(0, num_q, chunk_size):
        stop = min(num_q, start + chunk_size)
        fq = phi_q[..., start:stop, :]  # (..., c, m)
        k_stop = min(stop, num_k)  # keys of this block that exist (cross-attention: s ≠ l)
        fk = phi_k[..., start:k_stop, :]  # (..., c', m)
        vk = v1[..., start:k_stop, :]  # (..., c', e + 1)
        within = fq @ fk.transpose(-2, -1)  # (..., c, c')
        within.masked_fill_(hidden[: stop - start, : fk.shape[-2]], 0.0)  # sees keys j ≤ i
        part = fq @ state  # (..., c, e + 1): keys before the block
        part += within @ vk
        both[..., start:stop, :] = part
        if fk.shape[-2]:
            state += fk.transpose(-2, -1) @ vk
    return both


def approximate_weights(
    phi_q: torch.Tensor, phi_k: torch.Tensor, *, rows: slice | None = None, causal: bool = False
) -> torch.Tensor:
    """P̂ = D⁻¹ φ(Q)φ(K)ᵀ for a block of query rows (for maps and metrics only).

    Rows with |D_i| ≈ 0 are zeros, exactly as in ``linear_attention``. Shapes: → (..., rows, s).
    """
    rows = rows or slice(0, phi_q.shape[-2])
    kernel = phi_q[..., rows, :] @ phi_k.transpose(-2, -1)  # (..., r, s)
    if causal:
        kernel.masked_fill_(causal_mask(rows, phi_k.shape[-2], phi_q.device), 0.0)
    normalizer = kernel.sum(-1)  # (..., r)
    bound = _key_norm_bound(phi_q.norm(dim=-1), phi_k.norm(dim=-1), causal)[..., rows]
    small = normalizer.abs() <= SMALL_NORMALIZER * bound  # (..., r)
    kernel.div_(torch.where(small, torch.ones_like(normalizer), normalizer).unsqueeze(-1))
    return kernel.masked_fill_(small.unsqueeze(-1), 0.0) if bool(small.any()) else kernel


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
    """FAVOR+ end to end: φ(x) = exp(Wx − |x|²/2)/√m (Performer Lemma 1), x = q·√scale.

    Equals ``linear_attention(*positive_features(x, y, W), v, causal=causal)`` up to rounding
    (same stabilisers: a row max per query, one key max per head), but φ exists one block of
    ``chunk_size`` rows at a time in reused buffers, never for the whole sequence: the key max
    is kept running and the state rescaled by e^{M_old − M_new} when it grows. Half inputs are
    computed in float32. Shapes: q (..., l, d), k (..., s, d), v (..., s, e), W (m, d).
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

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t.to(work).expand(*batch, *t.shape[-2:]).reshape(n, *t.shape[-2:])  # (n, ·, ·)

    q, k, v = flat(q), flat(k), flat(v)
    root = math.sqrt(default_scale(d) if scale is None else scale)
    # Logits in base 2 (exp2 is ~3× faster than exp on CPUs): x·w·log₂e = q·(√scale·log₂e·w).
    w_q = (projection.to(work) * (root * LOG2E)).T.contiguous()  # (d, m)
    half = torch.full((1, m), -0.5 * root**2 * LOG2E, dtype=work, device=dev)
    w_k = torch.cat([w_q, half])  # (d + 1, m): [y, |y|²]·w_k = (w·y − |y|²/2)·log₂e
    c = min(chunk, max(l, s))
    bufs = _FavorBuffers(n, c, d, e, m, causal, work, dev)
    out = torch.empty(n, l, e, dtype=work, device=dev)  # (n, l, e)
    normalizer, suspect = torch.empty(2, n, l, dtype=work, device=dev)  # (n, l) each
    shift = torch.full((n, 1, 1), -math.inf, dtype=work, device=dev)  # running key max M
    state = torch.zeros(n, m, e + 1, dtype=work, device=dev)  # Σ_j φ(y_j)[v_j, 1]ᵀ
    row_shift = torch.empty(n, l, dtype=work, device=dev) if causal else None
    for a in range(0, 0 if causal else s, c):
        fk, v1, factor = bufs.keys(k[:, a : a + c], v[:, a : a + c], w_k, shift)
        state.mul_(factor).baddbmm_(fk.transpose(-2, -1), v1)
    for a in range(0, l, c):
        r = min(l, a + c) - a
        if causal and a < s:
            fk, v1, factor = bufs.keys(k[:, a : a + r], v[:, a : a + r], w_k, shift)
            state.mul_(factor)
        fq = bufs.queries(q[:, a : a + r], w_q)  # (n, r, m)
        both = torch.bmm(fq, state, out=_front(bufs.both, n, r, e + 1))  # (n, r, e + 1)
        if causal and a < s:
            within = _front(bufs.within, n, r, fk.shape[1])  # (n, r, r')
            torch.bmm(fq, fk.transpose(-2, -1), out=within)
            within.masked_fill_(bufs.hidden[:r, : fk.shape[1]], 0.0)  # query i sees j ≤ i
            both.baddbmm_(within, v1)
            state.baddbmm_(fk.transpose(-2, -1), v1)
        if row_shift is not None:
            row_shift[:, a : a + r] = shift.view(n, 1)
        # |φ(x_i)| ≤ √m (its largest entry is e⁰ = 1) and Σ_j |φ(y_j)| ≤ Σ_j Σ_r φ_r(y_j), the
        # ones column of the state: rows whose D_i clears this bound cannot be small.
        mass = state[:, :, e].sum(-1, keepdim=True)  # (n, 1)
        suspect[:, a : a + r] = mass * (SMALL_NORMALIZER * math.sqrt(m) * 1.001)
        normalizer[:, a : a + r] = both[..., e]
        torch.div(both[..., :e], both[..., e:], out=out[:, a : a + r])
    suspect = normalizer.abs() <= suspect  # (n, l): rows that need the exact check
    normalizer /= m  # φ here lacks the 1/√m of positive_features: it cancels in Ŷ
    if row_shift is not None:  # D in units of the max over all keys, like positive_features
        for a in range(l, s, c):  # keys no query sees still count in that max
            bufs.keys(k[:, a : a + c], v[:, a : a + c], w_k, shift)
        normalizer.mul_(torch.exp2(row_shift - shift.view(n, 1)))
    bound = torch.zeros_like(normalizer)  # |D_i| ≤ 0: only D_i = 0, unless checked exactly
    if bool(suspect.any()):  # rare: the exact bound of linear_attention, from whole features
        phi_q, phi_k = positive_features(q * root, k * root, projection.to(work))
        bound = _key_norm_bound(phi_q.norm(dim=-1), phi_k.norm(dim=-1), causal)
    result = finish(out, normalizer, bound)
    return LinearAttention(
        out.reshape(*batch, l, e), normalizer.reshape(*batch, l), *astuple(result)[2:]
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
        """√m·2^M·φ(y) of a key block (M: running max, base 2); the state's factor 2^(M_old−M)."""
        n, r, d = k.shape
        k1 = _front(self.k1, n, r, d + 1)  # [k, |k|²]
        k1[..., :d] = k
        k1[..., d] = torch.linalg.vector_norm(k, dim=-1).square_()
        f = _front(self.feat_k, n, r, w_k.shape[1])  # (n, r, m)
        torch.matmul(k1, w_k, out=f)  # w·y − |y|²/2
        new = torch.maximum(f.amax(dim=(-2, -1), keepdim=True), shift)  # (n, 1, 1)
        factor = torch.exp2(shift - new)
        shift.copy_(new)
        f.sub_(shift).exp2_()
        v1 = _front(self.v1, n, r, v.shape[-1] + 1)  # [v, 1]
        v1[..., :-1] = v
        v1[..., -1] = 1.0
        return f, v1, factor

    def queries(self, q, w_q):
        """√m·2^(M_i)·φ(x) of a query block: |x|²/2 and the row max M_i cancel in D_i."""
        n, r, _ = q.shape
        f = _front(self.feat_q, n, r, w_q.shape[1])  # (n, r, m)
        torch.matmul(q, w_q, out=f)
        return f.sub_(f.amax(-1, keepdim=True)).exp2_()
