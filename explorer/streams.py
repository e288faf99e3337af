"""Independent random streams: one per purpose, derived from (purpose, seed), never shared.

Every random number in the core comes from a ``Stream``. Its generator is numpy's PCG64 seeded
by ``SeedSequence(seed, spawn_key=(purpose number, *path))``: the purpose's fixed number and
any sub-indices (a block of W, one Monte Carlo draw) are hashed with the seed into 128 bits of
state, so distinct (purpose, seed, path) give independent streams. In particular the random
features never reuse the synthetic data's numbers, whatever the two seeds (equal ones too).
torch's CPU generator is not used: it keeps only the low 32 bits of a seed, so seeds that
differ above bit 31 repeat its stream. Draws are float64 on the CPU and moved afterwards, so
the same settings give the same numbers on every device and under every executor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np
import torch

Purpose = Literal[
    "features",  # W: the random projection of the feature maps
    "synthetic_data",  # synthetic q, k, v
    "control_data",  # the norms-matched control's random directions and values
    "row_sample",  # query rows behind the attention-matrix metrics of long inputs
    "pair_sample",  # (query, key) pairs behind the |x + y|² histograms
    "entry_sample",  # entries of P̂ − P behind the error histograms
    "monte_carlo",  # the theory page's independent draws of W
    "bench_data",  # the benchmark's q, k, v
]
PURPOSES: tuple[str, ...] = get_args(Purpose)
# Fixed numbers: a purpose keeps its number for ever (append new ones, never renumber), so a
# seed gives the same numbers in every release.
PURPOSE_NUMBERS = MappingProxyType({name: index + 1 for index, name in enumerate(PURPOSES)})


@dataclass(frozen=True)
class Stream:
    """The random stream of one purpose and seed; ``child(i)`` is an independent sub-stream."""

    purpose: Purpose
    seed: int
    path: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.purpose not in PURPOSE_NUMBERS:
            raise ValueError(f"unknown purpose {self.purpose!r}: use one of {', '.join(PURPOSES)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in self.path):
            raise ValueError(f"stream path must hold non-negative integers, got {self.path!r}")

    def child(self, *index: int) -> Stream:
        """The sub-stream at ``index`` (e.g. one block of W): independent of every other."""
        return replace(self, path=(*self.path, *index))

    def generator(self) -> np.random.Generator:
        """A fresh numpy generator at the start of this stream."""
        key = (PURPOSE_NUMBERS[self.purpose], *self.path)
        return np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=key))
        )

    def normal(self, *shape: int) -> torch.Tensor:
        """Standard normal draws from the start of this stream. Shapes: ``shape``, float64, CPU."""
        return torch.from_numpy(self.generator().standard_normal(shape))


def stream(purpose: Purpose, seed: int, *path: int) -> Stream:
    """``Stream(purpose, seed, path)``: the one way the core names its randomness."""
    return Stream(purpose, seed, tuple(path))
