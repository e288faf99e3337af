"""Trigonometric random features (Rahimi & Recht; Performer eq. 5): signed, unbiased."""

from __future__ import annotations

import math

import torch

from explorer.kernels.exponential import _half_sq_norm

Pair = tuple[torch.Tensor, torch.Tensor]


def trig_features(x, y, w, *, stabilize: bool = True) -> Pair:
    """exp(|x|²/2)/√m·[sin(Wx), cos(Wx)] (Performer eq. 5, SM^trig; Rahimi & Recht)."""
    wx, wy = x @ w.T, y @ w.T  # (..., l, m), (..., s, m)
    norm = 1.0 / math.sqrt(w.shape[0])
    log_hx, log_hy = _half_sq_norm(x), _half_sq_norm(y)  # (..., l, 1), (..., s, 1)
    if stabilize:
        log_hx = torch.zeros_like(log_hx)  # a per-query factor: drop it entirely
        log_hy = log_hy - log_hy.amax(dim=-2, keepdim=True)  # one factor for all keys
    phi_x = torch.cat([wx.sin(), wx.cos()], dim=-1) * (torch.exp(log_hx) * norm)
    phi_y = torch.cat([wy.sin(), wy.cos()], dim=-1) * (torch.exp(log_hy) * norm)
    return phi_x, phi_y
