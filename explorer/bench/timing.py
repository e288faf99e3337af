"""Timing of the benchmarked methods: warm-up, interleaved rounds, median, device sync.

Each method runs once to warm up (its output, compared with sdpa's, shows that all compute the
same attention), then ``repeats`` rounds run every method once in turn, so that load on the
machine hits all alike. A time is the median over rounds; the device is synchronised around
each call (CUDA events on a GPU, ``torch.mps.synchronize`` on mps).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

import torch

from explorer.bench.methods import Unavailable, make_method
from explorer.bench.spec import BenchSpec, make_inputs
from explorer.cancel import checkpoint
from explorer.device import timed
from explorer.reference.metrics import relative_error


def time_methods(
    spec: BenchSpec, methods: Sequence[str], repeats: int, *, max_seconds: float = 60.0
) -> list[tuple[str, float | None, int, float | None, str]]:
    """(method, median seconds, repeats, vs_sdpa, note) for each method, all on one input.

    A method whose warm-up shows that ``repeats`` calls would pass ``max_seconds`` runs fewer
    rounds (at least 3; the row says how many).
    """
    q, k, v, w = make_inputs(spec)
    device = q.device
    calls: dict[str, Callable[[], object]] = {}
    notes: dict[str, str] = {}
    for name in methods:
        try:
            calls[name] = make_method(name, spec, q, k, v, w)
        except Unavailable as reason:
            notes[name] = str(reason)
    warm, diffs, reference = {}, {}, None
    for name in sorted(calls, key=lambda n: n != "sdpa"):  # sdpa first: the reference output
        checkpoint()
        warm[name], out = timed(calls[name], device)
        if name == "sdpa":
            reference = out
        if isinstance(out, torch.Tensor) and reference is not None:
            diffs[name] = relative_error(out.float(), reference.float())
        del out
    rounds = {n: max(3, min(repeats, int(max_seconds / max(t, 1e-9)))) for n, t in warm.items()}
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for index in range(repeats):
        for name, fn in calls.items():
            if index < min(repeats, rounds[name]):
                checkpoint()  # between timed calls (one call itself cannot be stopped)
                samples[name].append(timed(fn, device)[0])
    rows = []
    for name in methods:
        got = samples.get(name)
        seconds = statistics.median(got) if got else None
        rows.append((name, seconds, len(got or ()), diffs.get(name), notes.get(name, "")))
    return rows
