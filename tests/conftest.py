"""Shared fixtures: seeded generators and small float64 inputs on the CPU."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


def gaussian(*shape: int, generator: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    """float64 N(0, scale²) entries from a seeded generator."""
    return torch.randn(*shape, generator=generator, dtype=torch.float64) * scale
