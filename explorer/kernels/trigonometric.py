"""Trigonometric random features (Rahimi & Recht; Performer eq. 5): signed, unbiased."""

from __future__ import annotations

import math

import torch

from explorer.kernels.exponential import _half_sq_norm
from explorer.kernels.products import project

Pair = tuple[torch.Tensor, torch.Tensor]


def trig_features(x, y, w, *, stabilize: bool = True) -> Pair:
    """exp(|x|²/2)/√m·[sin(Wx), cos(Wx)] (Performer eq. 5, SM^trig; Rahimi & Recht)."""
    norm = 1.0 / math.sqrt(w.shape[0])
    log_hx, log_hy = _half_sq_norm(x), _half_sq_norm(y)  # (..., l, 1), (..., s, 1)
    if stabilize:
        log_hx = None  # a per-query factor: drop it entirely
        log_hy = log_hy - log_hy.amax(dim=-2, keepdim=True)  # one factor for all keys
    return _sin_cos(x, w, log_hx, norm), _sin_cos(y, w, log_hy, norm)


def _sin_cos(t, w, log_h, norm: float) -> torch.Tensor:
    """[sin(Wt), cos(Wt)]·e^{log_h}·norm, written in place into one buffer. → (..., l, 2m)"""
    wt = project(t, w)  # (..., l, m): read-only
    m = wt.shape[-1]
    out = torch.empty(*wt.shape[:-1], 2 * m, dtype=wt.dtype, device=wt.device)
    torch.sin(wt, out=out[..., :m])
    torch.cos(wt, out=out[..., m:])
    return out.mul_(norm) if log_h is None else out.mul_(torch.exp(log_h) * norm)
