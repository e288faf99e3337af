"""The benchmark's readable table: times, peak memory, ratios side by side, the crossover.

Ratios per length: favor's speed-up t_sdpa/t_favor and t_performer/t_favor, favor's distance
to its roofline t_favor/t_roofline (1 = nothing but the products), and favor's peak memory as
a fraction of performer-pytorch's, and the explorer's whole comparison (exact output and every
error metric) against the SDPA forward alone, t_compare/t_sdpa (and with the attention-matrix
metrics on sampled rows, t_compare_sampled/t_sdpa). Crossover: the shortest
measured L from which on favor is faster than sdpa, with a log-log interpolation of
t_favor/t_sdpa = 1 between its neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from explorer.bench.methods import METHODS


def _lookup(rows: Sequence, causal: bool) -> dict[tuple[str, int], object]:
    return {(r.method, r.seq_len): r for r in rows if r.causal == causal}


def crossover(rows: Sequence, causal: bool) -> tuple[int | None, float | None]:
    """(first measured L from which favor beats sdpa at every longer L, interpolated L)."""
    table = _lookup(rows, causal)
    lengths = sorted({r.seq_len for r in rows if r.causal == causal})
    ratio = {}
    for length in lengths:
        favor, sdpa = table.get(("favor", length)), table.get(("sdpa", length))
        if favor and sdpa and favor.seconds and sdpa.seconds:
            ratio[length] = favor.seconds / sdpa.seconds  # < 1: favor is faster
    measured = sorted(ratio)
    first = None
    for length in reversed(measured):
        if ratio[length] >= 1.0:
            break
        first = length
    if first is None:
        return None, None
    before = [length for length in measured if length < first]
    if not before:
        return first, None  # faster already at the shortest length measured
    lo, hi = before[-1], first
    a, b = math.log(ratio[lo]), math.log(ratio[hi])
    where = math.log(lo) + (math.log(hi) - math.log(lo)) * a / (a - b)
    return first, math.exp(where)


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1e3:.1f} ms" if value < 10 else f"{value:.1f} s"


def _fmt_ratio(num: float | None, den: float | None) -> str:
    return "—" if not num or not den else f"{num / den:.2f}×"


def format_table(rows: Sequence, header: str = "") -> str:
    """Times, peak memory and favor's ratios side by side, then crossovers and notes."""
    methods = [m for m in METHODS if any(r.method == m for r in rows)]
    lines = [header] if header else []
    for causal in sorted({r.causal for r in rows}):
        table = _lookup(rows, causal)
        lengths = sorted({r.seq_len for r in rows if r.causal == causal})
        lines.append(f"\n{'causal' if causal else 'non-causal'}: median seconds per call")
        lines.append(f"{'L':>7} " + " ".join(f"{m:>17}" for m in methods))
        for length in lengths:
            cells = [
                _fmt_seconds(getattr(table.get((m, length)), "seconds", None)) for m in methods
            ]
            lines.append(f"{length:>7} " + " ".join(f"{c:>17}" for c in cells))
        lines.append(f"{'L':>7} peak MiB above the inputs (fresh process, one cold call)")
        for length in lengths:
            peaks = [getattr(table.get((m, length)), "peak_bytes", None) for m in methods]
            cells = ["—" if p is None else f"{p / 2**20:.0f}" for p in peaks]
            lines.append(f"{length:>7} " + " ".join(f"{c:>17}" for c in cells))
        lines.append(
            f"{'L':>7} {'favor ×sdpa':>12} {'×performer':>11} {'favor/roofline':>15} "
            f"{'mem favor/perf':>15} {'err vs sdpa':>12} {'compare/sdpa':>13} "
            f"{'sampled/sdpa':>13}"
        )
        for length in lengths:
            t = {m: getattr(table.get((m, length)), "seconds", None) for m in methods}
            mem = {m: getattr(table.get((m, length)), "peak_bytes", None) for m in methods}
            err = getattr(table.get(("favor", length)), "vs_sdpa", None)
            lines.append(
                f"{length:>7} {_fmt_ratio(t.get('sdpa'), t.get('favor')):>12} "
                f"{_fmt_ratio(t.get('performer_pytorch'), t.get('favor')):>11} "
                f"{_fmt_ratio(t.get('favor'), t.get('roofline')):>15} "
                f"{_fmt_ratio(mem.get('favor'), mem.get('performer_pytorch')):>15} "
                f"{'—' if err is None else f'{err:.3f}':>12} "
                f"{_fmt_ratio(t.get('compare'), t.get('sdpa')):>13} "
                f"{_fmt_ratio(t.get('compare_sampled'), t.get('sdpa')):>13}"
            )
        first, where = crossover(rows, causal)
        if first is None:
            text = f"favor never faster than sdpa up to L = {max(lengths)}"
        elif where is None:
            text = f"favor faster than sdpa from the shortest length measured, L = {first}"
        else:
            text = f"favor faster than sdpa from L = {first} (interpolated ≈ {where:.0f})"
        lines.append(f"crossover: {text}")
    notes = sorted({f"{r.method}: {r.note}" for r in rows if r.note})
    lines += ["", *(f"note: {n}" for n in notes)] if notes else []
    return "\n".join(lines)
