"""Benchmark: FAVOR+ against exact attention and performer-pytorch, time, memory, crossover.

``python -m explorer bench`` and ``benchmarks/bench_attention.py``. For each length and masking
every method (explorer/bench/methods.py) runs on the same inputs and device: one warm-up call
each, then ``repeats`` rounds that run every method once, interleaved, so that load on the
machine hits all alike; a time is the median over rounds, with the device synchronised (CUDA
events on a GPU). Peak memory: one cold call per method in a fresh process. Ratios: favor's
speed-up over sdpa and performer_pytorch, favor/roofline (how far favor's exp, reductions and
overhead sit above its bare matrix products), favor's peak memory over performer_pytorch's.
The crossover is the shortest measured L from which on favor beats sdpa (log-log interpolated
between the two lengths around it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import torch

from explorer.bench.methods import (
    METHODS,
    NAIVE_MAX_BYTES,
    BenchSpec,
    measure_peak,
    peak_in_child,
)
from explorer.bench.timing import time_methods
from explorer.device import DTYPES, resolve_device

DEFAULT_SEQ_LENS = (512, 1024, 2048, 4096, 8192, 16384)


@dataclass(frozen=True)
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


def benchmark(
    seq_lens: Sequence[int],
    causal_modes: Sequence[bool],
    methods: Sequence[str] = METHODS,
    *,
    base: BenchSpec | None = None,
    repeats: int = 5,
    memory: bool = True,
    max_seconds: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Time (and peak memory of) every method at every length and masking: plain rows."""
    base = base or BenchSpec(seq_len=seq_lens[0])
    rows = []
    for causal in causal_modes:
        for seq_len in seq_lens:
            spec = replace(base, seq_len=seq_len, causal=causal)
            label = "causal" if causal else "non-causal"
            if progress:
                progress(f"{label} L={seq_len}: timing")
            for name, seconds, count, vs_sdpa, note in time_methods(
                spec, methods, repeats, max_seconds=max_seconds
            ):
                peak = None
                if memory and seconds is not None and name != "roofline":
                    if progress:
                        progress(
                            f"{'causal' if causal else 'non-causal'} L={seq_len}: {name} memory"
                        )
                    try:  # CUDA's allocator counts exactly in-process; RSS needs a fresh one
                        cuda = resolve_device(spec.device).type == "cuda"
                        peak = measure_peak(spec, name) if cuda else peak_in_child(spec, name)
                    except (ValueError, OSError) as error:
                        note = f"{note}; {error}".strip("; ")
                rows.append(
                    BenchRow(
                        name,
                        seq_len,
                        causal,
                        seconds,
                        peak,
                        count,
                        vs_sdpa,
                        spec.batch,
                        spec.heads,
                        spec.head_dim,
                        spec.num_features,
                        spec.dtype,
                        str(resolve_device(spec.device)),
                        note,
                    )
                )
    return rows


def _csv(kind: type) -> Callable[[str], list]:
    def parse(text: str) -> list:
        try:
            values = [kind(item.strip()) for item in text.split(",") if item.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad list {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"empty list {text!r}")
        return values

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m explorer bench``."""
    parser.add_argument("--seq-lens", type=_csv(int), default=list(DEFAULT_SEQ_LENS))
    parser.add_argument("--num-features", type=int, default=256, help="m random vectors")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument(
        "--causal",
        nargs="?",
        const="yes",
        default="no",
        choices=["no", "yes", "both"],
        help="--causal: causal only; --causal both: non-causal and causal",
    )
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, mps")
    parser.add_argument("--dtype", default="float32", choices=list(DTYPES))
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (median)")
    parser.add_argument("--methods", type=_csv(str), default=list(METHODS))
    parser.add_argument("--scale", type=float, default=0.35, help="σ of q, k entries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument(
        "--naive-max-gb",
        type=float,
        default=NAIVE_MAX_BYTES / 2**30,
        help="skip naive attention when its L×L matrices need more (GiB)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help="fewer rounds (≥ 3) for a method whose rounds would take longer",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    parser.add_argument("--out", help="also write the readable table to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _check(args: argparse.Namespace) -> None:
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}: use some of {', '.join(METHODS)}")
    for name in ("num_features", "heads", "head_dim", "batch", "repeats"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if min(args.seq_lens) < 1:
        raise ValueError("--seq-lens must be positive")
    resolve_device(args.device)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark the options describe; print the table (or JSON rows). Exit status."""
    _check(args)
    from explorer.bench.report import format_table

    base = BenchSpec(
        seq_len=args.seq_lens[0],
        batch=args.batch,
        heads=args.heads,
        head_dim=args.head_dim,
        num_features=args.num_features,
        dtype=args.dtype,
        device=args.device,
        input_scale=args.scale,
        seed=args.seed,
        naive_max_bytes=int(args.naive_max_gb * 2**30),
    )
    modes = {"no": [False], "yes": [True], "both": [False, True]}[args.causal]

    def progress(text: str) -> None:
        if not args.quiet:
            print(f"\r{text:<60}", end="", file=sys.stderr, flush=True)

    rows = benchmark(
        sorted(set(args.seq_lens)),
        modes,
        args.methods,
        base=base,
        repeats=args.repeats,
        memory=not args.no_memory,
        max_seconds=args.max_seconds,
        progress=progress,
    )
    if not args.quiet:
        print(file=sys.stderr)
    device = str(resolve_device(args.device))
    header = (
        f"attention benchmark: {device}, {args.dtype}, b={args.batch} h={args.heads} "
        f"d={args.head_dim} m={args.num_features}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, median of {args.repeats} interleaved rounds"
    )
    table = format_table(rows, header)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(table + "\n")
    if args.json:
        print(json.dumps([_json_row(row) for row in rows], indent=1))
    else:
        print(table)
    return 0


def _json_row(row: BenchRow) -> dict:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in asdict(row).items()
    }
