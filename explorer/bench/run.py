"""Benchmark: FAVOR+ against exact attention and performer-pytorch, time, memory, crossover.

``python -m explorer bench`` and ``benchmarks/bench_attention.py``. For each length and masking
every method (``bench.methods.METHODS``) runs on the same inputs and device: one warm-up call
each, then ``repeats`` rounds that run every method once, interleaved, so that load on the
machine hits all alike; a time is the median over rounds, with the device synchronised (CUDA
events on a GPU). Peak memory: one cold call per method in a fresh process. Ratios: favor's
speed-up over sdpa and performer_pytorch, favor/roofline (how far favor's exp, reductions and
overhead sit above its bare matrix products), favor's peak memory over performer_pytorch's.
The crossover is the shortest measured L from which on favor beats sdpa (log-log interpolated
between the two lengths around it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from explorer.bench.memory import measure_peak, peak_in_child
from explorer.bench.methods import METHODS
from explorer.bench.spec import BenchSpec
from explorer.bench.timing import time_methods
from explorer.device import resolve_device

DEFAULT_SEQ_LENS = (512, 1024, 2048, 4096, 8192, 16384)


@dataclass(frozen=True, kw_only=True)
class BenchRow:
    """One method at one length: median seconds, peak bytes, and why a value is missing."""

    method: str
    seq_len: int
    causal: bool
    seconds: float | None
    peak_bytes: int | None
    repeats: int
    vs_sdpa: float | None  # ‖Y_method − Y_sdpa‖_F/‖Y_sdpa‖_F: exact ≈ 1e-7, FAVOR+ ≈ its error
    batch: int
    heads: int
    head_dim: int
    num_features: int
    dtype: str
    device: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class BenchPlan:
    """What to measure: lengths × maskings × methods on inputs like ``base``."""

    seq_lens: tuple[int, ...] = DEFAULT_SEQ_LENS
    causal_modes: tuple[bool, ...] = (False,)
    methods: tuple[str, ...] = tuple(METHODS)
    base: BenchSpec = field(default_factory=lambda: BenchSpec(seq_len=DEFAULT_SEQ_LENS[0]))
    repeats: int = 5  # timed rounds; the median is reported
    memory: bool = True  # peak memory per method, in a fresh process on the CPU
    max_seconds: float = 60.0  # fewer rounds (≥ 3) for a method that would take longer

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown method {unknown[0]!r}: use some of {', '.join(METHODS)}")
        if not self.seq_lens or min(self.seq_lens) < 1:
            raise ValueError("seq_lens must be positive lengths")
        if self.repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {self.repeats}")

    @property
    def steps(self) -> int:
        """Progress steps: one timing step per point, one memory step per method and point."""
        per_point = 1 + (len(self.methods) if self.memory else 0)
        return len(self.seq_lens) * len(self.causal_modes) * per_point


def benchmark(plan: BenchPlan, *, progress: Callable[[str], None] | None = None) -> list[BenchRow]:
    """Time (and peak memory of) every method at every length and masking: plain rows."""
    rows = []
    device = str(resolve_device(plan.base.device))
    cuda = resolve_device(plan.base.device).type == "cuda"
    for causal in plan.causal_modes:
        label = "causal" if causal else "non-causal"
        for seq_len in plan.seq_lens:
            spec = replace(plan.base, seq_len=seq_len, causal=causal)
            if progress:
                progress(f"{label} L={seq_len}: timing")
            timed = time_methods(spec, plan.methods, plan.repeats, max_seconds=plan.max_seconds)
            for name, seconds, count, vs_sdpa, note in timed:
                peak = None
                if plan.memory:
                    if progress:
                        progress(f"{label} L={seq_len}: {name} memory")
                    if seconds is not None and name != "roofline":
                        try:  # CUDA's allocator counts exactly in-process; RSS needs a fresh one
                            peak = measure_peak(spec, name) if cuda else peak_in_child(spec, name)
                        except (ValueError, OSError) as error:
                            note = f"{note}; {error}".strip("; ")
                rows.append(
                    BenchRow(
                        method=name,
                        seq_len=seq_len,
                        causal=causal,
                        seconds=seconds,
                        peak_bytes=peak,
                        repeats=count,
                        vs_sdpa=vs_sdpa,
                        batch=spec.batch,
                        heads=spec.heads,
                        head_dim=spec.head_dim,
                        num_features=spec.num_features,
                        dtype=spec.dtype,
                        device=device,
                        note=note,
                    )
                )
    return rows
