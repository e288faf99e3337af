"""The benchmark's table: ratios side by side and the interpolated crossover."""

from __future__ import annotations

import pytest

from explorer.bench import run as bench
from explorer.bench.report import crossover, format_table


def test_crossover_and_table_from_rows():
    def row(method, length, seconds):
        return bench.BenchRow(
            method=method,
            seq_len=length,
            causal=False,
            seconds=seconds,
            peak_bytes=2**20,
            repeats=3,
            vs_sdpa=None,
            batch=1,
            heads=8,
            head_dim=64,
            num_features=256,
            dtype="float32",
            device="cpu",
        )

    times = {512: (1.0, 2.0), 1024: (2.0, 1.0), 2048: (3.0, 1.0)}  # (sdpa, favor)
    rows = [row(m, n, t[i]) for n, t in times.items() for i, m in enumerate(["sdpa", "favor"])]
    first, where = crossover(rows, causal=False)
    assert first == 1024 and where == pytest.approx(724.08, rel=1e-3)  # 512·√2: ratios 2 and ½
    assert "crossover: favor faster than sdpa from L = 1024" in format_table(rows)
