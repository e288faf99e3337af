"""Flat buffers reused across the blocks and cells of one report unit.

A fresh tensor of tens of MB costs more in page faults than the passes over it (on the 2-core
machine of the README: ~0.3 ms per MB, against ~0.03 ms per MB to refill memory already
mapped), and glibc's malloc maps every allocation of 32 MB or more afresh. So the report's
per-block tensors (the K stack, P̂ − P) come from named buffers that grow once and are reused.
"""

from __future__ import annotations

import math

import torch


class Workspace:
    """Named flat buffers; ``view(name, shape)`` reuses one while it is large enough.

    Not shared between threads: each unit (one call of ``report_units.run_unit``) has its own.
    A view is valid until the next ``view`` of the same name.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def view(
        self, name: str, shape: tuple[int, ...], *, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """A contiguous tensor of ``shape`` over the buffer ``name`` (contents undefined);
        ``device`` as a tensor reports it (``cuda:0``, not ``cuda``)."""
        numel = math.prod(shape)
        buffer = self._buffers.get(name)
        if (
            buffer is None
            or buffer.numel() < numel
            or buffer.dtype != dtype
            or buffer.device != device
        ):
            buffer = torch.empty(numel, dtype=dtype, device=device)
            self._buffers[name] = buffer
        return buffer[:numel].view(shape)
