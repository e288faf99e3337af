"""Peak memory of one call, measured in a fresh process."""

from __future__ import annotations

from explorer.bench.memory import peak_in_child
from explorer.bench.spec import BenchSpec


def test_peak_memory_child_reports_bytes():
    peak = peak_in_child(BenchSpec(seq_len=64, heads=1, head_dim=8, num_features=16), "favor")
    assert isinstance(peak, int) and peak >= 0
