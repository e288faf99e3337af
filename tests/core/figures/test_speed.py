"""The Fig. 3 preset: crossover and chart from benchmark rows (timings are not tested)."""

from __future__ import annotations

import pandas as pd
import pytest

from explorer.figures.speed import fig3_crossover, fig3_figure, fig3_key_numbers, fig3_table


def rows(favor: list[float], sdpa: list[float], causal: bool = False) -> pd.DataFrame:
    lengths = [512, 1024, 2048, 4096]
    data = []
    for method, times in (("favor", favor), ("sdpa", sdpa)):
        for seq_len, seconds in zip(lengths, times, strict=True):
            data.append(
                {
                    "method": method,
                    "seq_len": seq_len,
                    "causal": causal,
                    "seconds": seconds,
                    "peak_bytes": seq_len * 1e4,
                    "batch": 1,
                    "heads": 8,
                    "head_dim": 64,
                    "num_features": 256,
                    "dtype": "float32",
                    "device": "cpu",
                }
            )
    return pd.DataFrame(data)


def test_crossover_is_interpolated_in_log_log():
    # favor/sdpa = 2, 1, 0.5, 0.25 at 512..4096: equal exactly at 1024 → interpolated 1024.
    table = rows([2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 4.0, 8.0])
    crossing = fig3_crossover(table)
    assert crossing == pytest.approx(1024, rel=1e-6)
    # Ratio 2 at 1024 and 0.5 at 2048: the log-midpoint √(1024·2048) ≈ 1448.
    table = rows([2.0, 4.0, 2.0, 2.0], [1.0, 2.0, 4.0, 8.0])
    assert fig3_crossover(table) == pytest.approx((1024 * 2048) ** 0.5, rel=1e-6)
    assert fig3_crossover(rows([2.0] * 4, [1.0] * 4)) is None  # never faster


def test_chart_and_key_numbers():
    table = pd.concat(
        [rows([2.0, 4.0, 2.0, 2.0], [1.0, 2.0, 4.0, 8.0]), rows([1.0] * 4, [1.0] * 4, causal=True)]
    )
    fig = fig3_figure(table)
    names = {trace.name for trace in fig.data}
    assert {"FAVOR+ (ours)", "exact: torch SDPA", "∝ L² (exact)", "∝ L (linear)"} <= names
    numbers = fig3_key_numbers(table)
    assert numbers["sdpa_over_favor_at_L4096"] == pytest.approx(4.0)
    assert "crossover_causal" not in numbers


def test_quick_table_runs_every_method_on_tiny_inputs(monkeypatch):
    # A real (tiny) run: every method produces a row, FAVOR+'s output error is reported, and
    # naive attention is skipped with a note when its L×L matrices pass the budget
    # (1 MB here: 8 heads × 512² × 4 bytes is 8 MB).
    import explorer.figures.speed as speed

    monkeypatch.setitem(speed.FIG3_SIZES, "quick", (32, 512))
    from explorer.experiments.budget import Budget

    table = fig3_table("quick", causal_modes=(False,), budget=Budget(memory_mb=1), memory=False)
    assert set(table.method) >= {"sdpa", "favor", "roofline", "naive"}
    assert (table[table.method == "favor"].vs_sdpa < 1).all()
    assert table.seconds[table.method == "sdpa"].notna().all()
    naive = table[table.method == "naive"].set_index("seq_len")
    assert naive.seconds[32] > 0 and pd.isna(naive.seconds[512])
    assert "skipped" in naive.note[512]
