"""Which keys a query sees: causal masks, sliding windows, and soft-capped scores.

Causal masking follows SDPA's ``is_causal`` (top-left aligned): query i sees keys j ≤ i.
A sliding window of w (transformers' ``sliding_window``, ``masking_utils.sliding_window_overlay``)
adds i − w < j: each query sees at most w keys, itself included. Windows are for causal
attention (the decoders that use them); a window without ``causal`` is refused. Soft-capping
(Gemma 2's ``attn_logit_softcapping``) maps a logit t to c·tanh(t/c) before the mask.
Shapes: positions (r,) of query rows → masks (r, s), True where the key is hidden.
"""

from __future__ import annotations

import torch


def check_mask(*, causal: bool, window: int | None) -> None:
    """ValueError for a window that is not a positive integer or comes without ``causal``."""
    if window is None:
        return
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"a sliding window must be a positive number of keys, got {window!r}")
    if not causal:
        raise ValueError("sliding windows need causal attention (they are a decoder's mask)")


def hidden_keys(
    positions: torch.Tensor, num_keys: int, *, causal: bool, window: int | None = None
) -> torch.Tensor | None:
    """True where query row (at ``positions``) may not see key j; None when all are seen.

    Shapes: positions (r,) → (r, s).
    """
    if not causal:
        return None
    keys = torch.arange(num_keys, device=positions.device)  # (s,)
    query = positions.unsqueeze(-1)  # (r, 1)
    hidden = keys > query
    if window is not None:
        hidden |= keys <= query - window
    return hidden


def visible_counts(
    positions: torch.Tensor, num_keys: int, *, causal: bool, window: int | None = None
) -> torch.Tensor:
    """How many keys each query row sees (the uniform baseline's 1/count). Shapes: (r,)."""
    if not causal:
        return torch.full_like(positions, num_keys)
    last = positions.clamp(max=num_keys - 1)  # the last visible key
    first = (positions - window + 1).clamp(min=0) if window is not None else torch.zeros_like(last)
    return (last - first + 1).clamp(min=0)


def key_span(first: int, stop: int, num_keys: int, *, causal: bool) -> int:
    """Keys a block of query rows first..stop−1 can see at most: causal rows see j < stop."""
    return min(num_keys, stop) if causal else num_keys


def softcap(scores: torch.Tensor, cap: float | None) -> torch.Tensor:
    """c·tanh(t/c), in place, or the scores unchanged without a cap."""
    if cap is None:
        return scores
    return scores.div_(cap).tanh_().mul_(cap)
