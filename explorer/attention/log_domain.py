"""Rows of linear attention recomputed exactly in the log domain, where products underflow.

For exponential feature maps φ = exp(ℓ) the kernel of a pair is K_ij = Σ_r e^{ℓx_ir + ℓy_jr}, so
log K_ij = logsumexp_r(ℓx_ir + ℓy_jr) and P̂_ij = exp(log K_ij − logsumexp_j log K_ij) with no
product ever formed in linear space. That costs O(r·s·m) per recomputed row (the linear-time
path costs O(m) per row), so it runs only on the rows whose normaliser fell under
``underflow_floor``: there some products φ(x_i)_r φ(y_j)_r underflowed, and the rest would carry
a relative error above the dtype's epsilon. Non-causal rows of the stabilised exponential maps
never get there (their normaliser is ≥ 1); causal rows can, when the keys a query sees are far
weaker than later ones. Keys are taken in blocks under ``memory_budget`` with an online
softmax. Shapes: ℓx (n, r, m'), ℓy (n, s, m'), v (n, s, e).
"""

from __future__ import annotations

import math

import torch

LOG_DOMAIN_BUDGET = 32 * 2**20  # bytes of one (n, r, keys, m') block of pair exponents


def underflow_floor(num_keys: int, feature_dim: int, dtype: torch.dtype) -> float:
    """Normalisers below this may have lost more than eps to underflowed products.

    Each of the s·m' products φ_r(x_i)φ_r(y_j) that underflows loses at most the smallest
    normal number, so D_i ≥ s·m'·tiny/eps keeps the relative error of D_i (and of the
    numerator) within eps.
    """
    info = torch.finfo(dtype)
    return max(1, num_keys) * max(1, feature_dim) * info.tiny / info.eps


def _key_blocks(n: int, r: int, s: int, m: int, itemsize: int, budget: int):
    step = max(1, budget // max(1, n * r * m * itemsize))
    for start in range(0, s, step):
        yield slice(start, min(s, start + step))


def log_kernel_block(log_q: torch.Tensor, log_k: torch.Tensor) -> torch.Tensor:
    """log K = logsumexp_r(ℓx_ir + ℓy_jr). Shapes: (n, r, m'), (n, c, m') → (n, r, c)."""
    return torch.logsumexp(log_q.unsqueeze(-2) + log_k.unsqueeze(-3), dim=-1)


def log_domain_rows(
    log_q: torch.Tensor,
    log_k: torch.Tensor,
    values: torch.Tensor | None,
    positions: torch.Tensor,
    *,
    causal: bool,
    window: int | None = None,
    memory_budget: int = LOG_DOMAIN_BUDGET,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(P̂V, log D) of the given query rows, exactly. Shapes: → (n, r, e) or None, (n, r).

    ``positions`` (r,) are the rows' query positions (causal rows see keys j ≤ position, and
    with a window only j > position − window).
    """
    n, r, m = log_q.shape
    s = log_k.shape[-2]
    dev, dtype = log_q.device, log_q.dtype
    running = torch.full((n, r, 1), -math.inf, dtype=dtype, device=dev)  # running max M
    total = torch.zeros(n, r, 1, dtype=dtype, device=dev)  # Σ_j e^{log K_ij − M}
    acc = None if values is None else torch.zeros(n, r, values.shape[-1], dtype=dtype, device=dev)
    for keys in _key_blocks(n, r, s, m, log_q.element_size(), memory_budget):
        block = log_kernel_block(log_q, log_k[:, keys])  # (n, r, c)
        if causal:
            block.masked_fill_(_hidden(keys, positions, window), -math.inf)  # (r, c), all heads
        new = torch.maximum(running, block.amax(-1, keepdim=True))
        safe = torch.where(torch.isfinite(new), new, torch.zeros_like(new))
        weights = torch.exp(block - safe)  # (n, r, c); 0 where hidden
        rescale = torch.exp(running - safe)  # 0 the first time (M = −inf)
        total = total * rescale + weights.sum(-1, keepdim=True)
        if acc is not None:
            acc = acc * rescale + weights @ values[:, keys].to(dtype)
        running = new
    log_normalizer = (running + torch.log(total)).squeeze(-1)  # (n, r)
    output = None if acc is None else acc / total.clamp(min=torch.finfo(dtype).tiny)
    return output, log_normalizer


def _hidden(keys: slice, positions: torch.Tensor, window: int | None) -> torch.Tensor:
    index = torch.arange(keys.start, keys.stop, device=positions.device)  # (c,)
    hidden = index > positions.unsqueeze(-1)  # (r, c)
    if window is not None:
        hidden |= index <= positions.unsqueeze(-1) - window
    return hidden


def log_domain_weights(
    log_q: torch.Tensor,
    log_k: torch.Tensor,
    positions: torch.Tensor,
    *,
    causal: bool,
    window: int | None = None,
) -> torch.Tensor:
    """P̂ of the given rows over every key, exactly. Shapes: (n, r, m'), (n, s, m') → (n, r, s).

    Only for the few rows that underflow: it holds the (n, r, s) result at once.
    """
    _, log_d = log_domain_rows(log_q, log_k, None, positions, causal=causal, window=window)
    s = log_k.shape[-2]
    out = torch.empty(*log_q.shape[:-1], s, dtype=log_q.dtype, device=log_q.device)
    for keys in _key_blocks(*log_q.shape[:2], s, log_q.shape[-1], log_q.element_size(), 2**25):
        block = log_kernel_block(log_q, log_k[:, keys])
        if causal:
            block.masked_fill_(_hidden(keys, positions, window), -math.inf)
        out[..., keys] = torch.exp(block - log_d.unsqueeze(-1))
    return out
