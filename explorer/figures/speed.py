"""Performer Fig. 3 as a preset: time and peak memory vs L, ours against torch's SDPA.

Forward pass, B = 1, H = 8, d = 64, m = 256 in float32 on the chosen device (Performer Fig. 3
used a V100 and naive attention; we also compare with SDPA, which never materialises L×L, so
the crossover is the honest one). One table row per method, L and masking, from
``explorer.bench.benchmark``: the same measurement as ``python -m explorer bench``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import pandas as pd
import plotly.graph_objects as go

from explorer.bench.run import BenchPlan, benchmark
from explorer.bench.spec import BenchSpec
from explorer.charts.timing import timing_chart
from explorer.experiments.budget import Budget
from explorer.experiments.config import DEFAULTS

FIG3_SIZES = {
    "paper": (512, 1024, 2048, 4096, 8192, 16384),
    "quick": (128, 256, 512, 1024, 2048),
}
Progress = Callable[[int, int, str], None]


def fig3_table(
    size: str,
    *,
    scale: float | None = None,
    progress: Progress | None = None,
    device: str = "cpu",
    causal_modes: tuple[bool, ...] = (False, True),
    memory: bool | None = None,
    budget: Budget | None = None,
) -> pd.DataFrame:
    """Benchmark rows for every method, length and masking of the preset's size.

    Peak memory needs a fresh process per point on the CPU, so the quick size skips it unless
    ``memory=True``. Naive attention is skipped, with a note, where its L×L matrices would
    pass the memory budget (``EXPLORER_MEMORY_MB``).
    """
    lengths = FIG3_SIZES[size]
    budget = budget or Budget.from_env()
    memory = size == "paper" if memory is None else memory
    base = BenchSpec(
        seq_len=lengths[0],
        device=device,
        input_scale=scale or DEFAULTS.input_scale,
        naive_max_bytes=budget.memory_mb * 2**20,
    )
    plan = BenchPlan(
        seq_lens=tuple(lengths),
        causal_modes=tuple(causal_modes),
        base=base,
        repeats=5 if size == "paper" else 3,
        memory=memory,
    )
    done = 0

    def step(text: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(min(done, plan.steps), plan.steps, text)

    rows = benchmark(plan, progress=step)
    return pd.DataFrame([asdict(row) for row in rows])


def fig3_crossover(table: pd.DataFrame, *, causal: bool = False) -> float | None:
    """The L from which on favor beats SDPA (interpolated), or None if it never does here."""
    from explorer.bench.report import crossover

    first, interpolated = crossover(list(table.itertuples(index=False)), causal)
    return interpolated or (float(first) if first else None)


def fig3_figure(table: pd.DataFrame) -> go.Figure:
    """Non-causal time and memory vs L with the crossover; causal rows stay in the CSV."""
    plain = table[~table.causal]
    crossing = fig3_crossover(table)
    first = table.iloc[0]
    title = (
        "Performer Fig. 3: time and peak memory vs L (non-causal forward)<br><sup>"
        f"B = {first.batch}, H = {first.heads}, d = {first.head_dim}, m = {first.num_features}, "
        f"{first.dtype} on {first.device}"
        + (f"; FAVOR+ faster than SDPA from L ≈ {crossing:,.0f}" if crossing else "")
        + "</sup>"
    )
    return timing_chart(plain, crossover=crossing, title=title)


def fig3_key_numbers(table: pd.DataFrame) -> dict[str, float]:
    """Crossovers and, at the longest L, favor's speed-up over SDPA (non-causal)."""
    numbers = {}
    for causal in (False, True):
        crossing = fig3_crossover(table, causal=causal)
        if crossing:
            numbers[f"crossover_{'causal' if causal else 'noncausal'}"] = crossing
    plain = table[~table.causal & table.seconds.notna()]
    longest = plain.seq_len.max()
    at = plain[plain.seq_len == longest].set_index("method").seconds
    if "favor" in at and "sdpa" in at:
        numbers[f"sdpa_over_favor_at_L{longest}"] = float(at["sdpa"] / at["favor"])
    return numbers
