"""The report's reused block buffers: one allocation while it is large enough."""

from __future__ import annotations

import torch

from explorer.experiments.workspace import Workspace


def test_views_reuse_one_buffer_until_it_is_too_small():
    space = Workspace()
    cpu = torch.device("cpu")
    first = space.view("stack", (4, 5), dtype=torch.float32, device=cpu)
    smaller = space.view("stack", (3, 2), dtype=torch.float32, device=cpu)
    assert first.is_contiguous() and smaller.is_contiguous() and smaller.shape == (3, 2)
    assert smaller.data_ptr() == first.data_ptr()  # no new pages
    other = space.view("scratch", (4, 5), dtype=torch.float32, device=cpu)
    assert other.data_ptr() != first.data_ptr()  # names never share
    larger = space.view("stack", (6, 5), dtype=torch.float32, device=cpu)
    assert larger.shape == (6, 5)
    again = space.view("stack", (6, 5), dtype=torch.float32, device=cpu)
    assert again.data_ptr() == larger.data_ptr()
    wide = space.view("stack", (6, 5), dtype=torch.float64, device=cpu)
    assert wide.dtype == torch.float64
