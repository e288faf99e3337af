"""``python -m explorer bench``: time and peak memory vs L, every method side by side."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from explorer.bench.methods import METHODS
from explorer.bench.run import DEFAULT_SEQ_LENS, BenchPlan, benchmark
from explorer.bench.spec import NAIVE_MAX_BYTES, BenchSpec
from explorer.cli.common import (
    csv_list,
    json_safe,
    listing,
    output_path,
    positive_int,
)
from explorer.cli.progress import Progress
from explorer.device import DTYPES, resolve_device
from explorer.experiments.config import DEFAULTS


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "bench",
        help="time and peak memory vs L, side by side",
        description="Every method on the same inputs and device: warm-up, interleaved rounds, "
        "the median; peak memory in a fresh process per method. Prints a table with the ratios "
        "and the crossover L.",
    )
    parser.add_argument(
        "--seq-lens",
        type=csv_list(positive_int),
        default=list(DEFAULT_SEQ_LENS),
        metavar="LIST",
        help="comma-separated lengths L",
    )
    parser.add_argument(
        "--num-features", type=positive_int, default=DEFAULTS.num_features, help="m random vectors"
    )
    parser.add_argument("--heads", type=positive_int, default=8, help="h")
    parser.add_argument("--head-dim", type=positive_int, default=64, help="d")
    parser.add_argument("--batch", type=positive_int, default=1, help="b")
    parser.add_argument(
        "--causal",
        nargs="?",
        const="yes",
        default="no",
        choices=["no", "yes", "both"],
        help="--causal: causal only; --causal both: non-causal and causal",
    )
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, mps")
    parser.add_argument("--dtype", default=DEFAULTS.dtype, choices=list(DTYPES))
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed rounds (median)")
    parser.add_argument(
        "--methods",
        type=csv_list(str),
        default=list(METHODS),
        metavar="LIST",
        help=f"comma-separated methods, from: {listing(METHODS)}",
    )
    parser.add_argument(
        "--scale", type=float, default=DEFAULTS.input_scale, help="σ of q, k entries"
    )
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
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
        help="fewer rounds (≥ 3) for a method whose rounds would take longer (seconds)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    parser.add_argument("--out", type=Path, metavar="FILE.txt", help="also write the table here")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark the options describe; print the table (or JSON rows). Exit status."""
    from explorer.bench.report import format_table

    out = None if args.out is None else output_path(args.out, suffix=".txt", option="--out")
    resolve_device(args.device)
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
    plan = BenchPlan(
        seq_lens=tuple(sorted(set(args.seq_lens))),
        causal_modes={"no": (False,), "yes": (True,), "both": (False, True)}[args.causal],
        methods=tuple(args.methods),
        base=base,
        repeats=args.repeats,
        memory=not args.no_memory,
        max_seconds=args.max_seconds,
    )
    progress, done = Progress(quiet=args.quiet), 0

    def step(text: str) -> None:
        nonlocal done
        done += 1
        progress.update(min(done, plan.steps), plan.steps, text)

    rows = benchmark(plan, progress=step)
    progress.close()
    device = str(resolve_device(args.device))
    header = (
        f"attention benchmark: {device}, {args.dtype}, b={args.batch} h={args.heads} "
        f"d={args.head_dim} m={args.num_features}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, median of {args.repeats} interleaved rounds"
    )
    table = format_table(rows, header)
    if out is not None:
        out.write_text(table + "\n", encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    if args.json:
        print(json.dumps([json_safe(asdict(row)) for row in rows], indent=1))
    else:
        print(table)
    return 0
