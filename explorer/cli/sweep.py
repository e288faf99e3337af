"""``python -m explorer sweep``: compare over a grid of settings, to a tidy CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from explorer.cli.common import (
    add_budget,
    add_device_options,
    budget_from,
    csv_list,
    feature_map_name,
    listing,
    output_path,
    positive_int,
    projection_name,
)
from explorer.cli.progress import Progress
from explorer.experiments.budget import Workload
from explorer.experiments.config import DEFAULTS, ExperimentConfig
from explorer.kernels.feature_maps import FEATURE_MAPS
from explorer.kernels.projections import PROJECTIONS


def add_parser(sub) -> None:
    swp = sub.add_parser(
        "sweep",
        help="compare over a grid of settings, to a tidy CSV",
        description="Run compare on synthetic inputs for every combination of the listed values "
        "(each option takes a comma-separated list) and seeds 0..N-1: one CSV row per run.",
    )
    swp.add_argument(
        "--feature-maps",
        type=csv_list(feature_map_name),
        default=[DEFAULTS.feature_map],
        metavar="LIST",
        help=f"comma-separated feature maps, from: {listing(FEATURE_MAPS)}",
    )
    swp.add_argument(
        "--projections",
        type=csv_list(projection_name),
        default=[DEFAULTS.projection],
        metavar="LIST",
        help=f"comma-separated projections, from: {listing(PROJECTIONS)}",
    )
    swp.add_argument(
        "--num-features",
        type=csv_list(positive_int),
        default=[DEFAULTS.num_features],
        metavar="LIST",
        help="comma-separated m values (random vectors)",
    )
    swp.add_argument(
        "--scales",
        type=csv_list(float),
        default=[DEFAULTS.input_scale],
        metavar="LIST",
        help="comma-separated σ values (std of synthetic q, k entries)",
    )
    swp.add_argument(
        "--seq-lens",
        type=csv_list(positive_int),
        default=[DEFAULTS.seq_len],
        metavar="LIST",
        help="comma-separated L values (tokens)",
    )
    swp.add_argument(
        "--head-dims",
        type=csv_list(positive_int),
        default=[DEFAULTS.head_dim],
        metavar="LIST",
        help="comma-separated d values",
    )
    swp.add_argument("--heads", type=positive_int, default=DEFAULTS.num_heads, help="h")
    swp.add_argument(
        "--seeds", type=positive_int, default=3, metavar="N", help="feature seeds 0..N-1 per point"
    )
    add_device_options(swp)
    add_budget(swp)
    swp.add_argument("--out", type=Path, metavar="FILE.csv", help="CSV path (default: stdout)")
    swp.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from explorer.experiments.sweep import sweep, sweep_configs

    out = None if args.out is None else output_path(args.out, suffix=".csv", option="--out")
    base = ExperimentConfig(
        causal=args.causal,
        softmax_scale=args.softmax_scale,
        window=args.window,
        softcap=args.softcap,
        device=args.device,
        dtype=args.dtype,
        num_heads=args.heads,
    )
    axes = {
        "feature_map": args.feature_maps,
        "projection": args.projections,
        "num_features": args.num_features,
        "input_scale": args.scales,
        "seq_len": args.seq_lens,
        "head_dim": args.head_dims,
    }
    seeds = range(args.seeds)
    budget = budget_from(args)
    configs = sweep_configs(base, axes, seeds)
    budget.check_sweep(len(configs))
    for config in configs:  # every run fits, before the first one starts
        budget.check_comparison(Workload.of(config))
    progress = Progress(quiet=args.quiet)

    def step(done: int, total: int, config: ExperimentConfig) -> None:
        progress.update(
            done,
            total,
            f"{config.feature_map} {config.projection} m={config.num_features} "
            f"σ={config.input_scale:g} L={config.seq_len} seed={config.seed}",
        )

    table = sweep(base, axes, seeds=seeds, progress=step, timeout_s=budget.sweep_timeout_s)
    if out is None:
        table.to_csv(sys.stdout, index=False)
    else:
        table.to_csv(out, index=False)
        print(f"wrote {out}: {len(table)} runs × {len(table.columns)} columns", file=sys.stderr)
    return 0
