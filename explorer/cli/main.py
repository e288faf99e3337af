"""The command line, the dashboard's headless twin: ``python -m explorer compare|sweep ...``.

Bad arguments or inputs print one line, ``explorer: error: ...``, on stderr and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from explorer.cli.data import (
    add_capture,
    add_inspect,
    add_selection,
    file_inputs,
    run_capture,
    run_inspect,
)
from explorer.errors import ExplorerError
from explorer.experiments.compare import Comparison, ExperimentConfig, compare, synthetic_inputs
from explorer.experiments.control import control_runs, control_summary
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.inputs.synthetic import SYNTHETIC_KINDS
from explorer.kernels.feature_maps import FEATURE_MAPS
from explorer.kernels.projections import PROJECTIONS

EXIT_USAGE = 2


class UsageError(Exception):
    """A bad command line: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, no usage dump
        raise UsageError(message)


def _projection(text: str) -> str:
    name = text.replace("-", "_")
    if name not in PROJECTIONS:
        raise argparse.ArgumentTypeError(
            f"unknown projection {text!r} (choose from iid, orthogonal, fixed-norm)"
        )
    return name


def _csv(kind):
    def parse(text: str) -> list:
        try:
            return [kind(item.strip()) for item in text.split(",") if item.strip()]
        except (ValueError, argparse.ArgumentTypeError) as error:
            raise argparse.ArgumentTypeError(f"bad list {text!r}: {error}") from None

    return parse


def _feature_map(text: str) -> str:
    if text not in FEATURE_MAPS:
        raise argparse.ArgumentTypeError(
            f"unknown feature map {text!r} (choose from {', '.join(FEATURE_MAPS)})"
        )
    return text


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of the random features")
    parser.add_argument("--causal", action="store_true", help="causal (autoregressive) masking")
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, mps")
    parser.add_argument(
        "--dtype", default="float32", choices=["float32", "float64", "float16", "bfloat16"]
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m explorer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    cmp = sub.add_parser("compare", help="exact vs approximate attention on one input")
    source = cmp.add_mutually_exclusive_group(required=True)
    source.add_argument("--synthetic", action="store_true", help="synthetic q, k (see --data)")
    source.add_argument(
        "--input", type=Path, help="one file with q, k (and v): .safetensors, .npz or .pt"
    )
    source.add_argument("--q", type=Path, help="queries, one tensor (.npy, .safetensors, ...)")
    cmp.add_argument("--k", type=Path, help="keys, one tensor; needed with --q")
    cmp.add_argument("--v", type=Path, help="values, one tensor; optional")
    add_selection(cmp)
    cmp.add_argument(
        "--data", default="gaussian", choices=list(SYNTHETIC_KINDS), help="synthetic generator"
    )
    cmp.add_argument("--seq-len", type=int, default=256)
    cmp.add_argument("--head-dim", type=int, default=64)
    cmp.add_argument("--heads", type=int, default=1)
    cmp.add_argument("--scale", type=float, default=0.35, help="σ of synthetic q, k entries")
    cmp.add_argument("--data-seed", type=int, default=0)
    cmp.add_argument("--feature-map", type=_feature_map, default="positive")
    cmp.add_argument("--num-features", type=int, default=256)
    cmp.add_argument("--projection", type=_projection, default="orthogonal")
    _add_common(cmp)
    cmp.add_argument("--json", action="store_true", help="print one JSON object")
    cmp.add_argument("--save", type=Path, help="write exact_output and approx_output (.npz)")
    cmp.add_argument(
        "--row-sample",
        type=int,
        help="attention-matrix metrics on N sampled query rows per head (output errors stay "
        "exact over all rows): long inputs in a fraction of the time",
    )
    cmp.add_argument(
        "--control",
        action="store_true",
        help="also run a norms-matched control (same row norms, random directions), 5 draws",
    )

    swp = sub.add_parser("sweep", help="compare over a grid of settings, to a tidy CSV")
    swp.add_argument("--feature-maps", type=_csv(_feature_map), default=["positive"])
    swp.add_argument("--projections", type=_csv(_projection), default=["orthogonal"])
    swp.add_argument("--num-features", type=_csv(int), default=[256])
    swp.add_argument("--scales", type=_csv(float), default=[0.35])
    swp.add_argument("--seq-lens", type=_csv(int), default=[256])
    swp.add_argument("--head-dims", type=_csv(int), default=[64])
    swp.add_argument("--heads", type=int, default=1)
    swp.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    _add_common(swp)
    swp.add_argument("--out", type=Path, help="CSV path (default: stdout)")
    swp.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_inspect(sub)
    add_capture(sub)
    from explorer.figures import (
        presets as figures,  # plotly: imported only when the parser is built
    )

    fig = sub.add_parser(
        "figure", help="reproduce a paper figure as CSV and HTML (fig2, fig3, fig4)"
    )
    figures.add_arguments(fig)
    from explorer.bench import run as bench

    bench.add_arguments(sub.add_parser("bench", help="time and peak memory vs L, side by side"))
    return parser


def _inputs(args: argparse.Namespace) -> AttentionInputs | None:
    if args.synthetic:
        return None
    if args.q is None and (args.k is not None or args.v is not None):
        raise UsageError("--k/--v go with --q")
    return file_inputs(args)


def _summary(result: Comparison) -> dict:
    metrics = {f.name: getattr(result.metrics, f.name) for f in fields(result.metrics)}
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, np.ndarray)}
    stats = result.statistics
    return {
        **scalars,
        "inputs": result.inputs_name,
        "device": result.device,
        "feature_dim": result.feature_dim,
        "negative_rows": result.negative_rows,
        "small_rows": result.small_rows,
        "out_of_range_rows": result.out_of_range_rows,
        "recomputed_rows": result.recomputed_rows,
        "estimates": result.estimates.summary,
        "unbiased_for_softmax": result.estimates.unbiased_for_softmax,
        "mean_sq_norm_x": float(stats.x_sq_norms.mean()),
        "mean_pair_sq_sum": float(stats.mean_pair_sq_sum.mean()),
        "approx_seconds": result.timings.approx_seconds,
        "reference_seconds": result.timings.reference_seconds,
        "config": asdict(result.config),
    }


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf/NaN: "inf" is explicit
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def run_compare(args: argparse.Namespace) -> int:
    inputs = _inputs(args)
    config = ExperimentConfig(
        feature_map=args.feature_map,
        num_features=args.num_features,
        projection=args.projection,
        seed=args.seed,
        causal=args.causal,
        device=args.device,
        dtype=args.dtype,
        seq_len=args.seq_len,
        head_dim=args.head_dim,
        num_heads=args.heads,
        input_scale=args.scale,
        data_seed=args.data_seed,
        data_kind=args.data,
        row_sample=args.row_sample,
    )
    result = compare(config, inputs, with_maps=False)  # the CLI prints no maps
    summary = _summary(result)
    if args.control:
        source = synthetic_inputs(config) if inputs is None else inputs
        summary["control"] = control_summary(*control_runs(config, source))
    if args.save is not None:
        if result.exact_output is None:
            raise ExplorerError("--save needs V: outputs cannot be computed without values")
        np.savez(args.save, exact_output=result.exact_output, approx_output=result.approx_output)
    if args.json:
        print(json.dumps(_json_safe(summary), indent=2))
        return 0
    flat = {k: v for k, v in summary.items() if k not in ("config", "control")}
    flat.update({f"control.{k}": v for k, v in summary.get("control", {}).items()})
    for key, value in flat.items():
        print(f"{key:44s} {value:.6g}" if isinstance(value, float) else f"{key:44s} {value}")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    from explorer.experiments.sweep import sweep

    if args.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    base = ExperimentConfig(
        causal=args.causal, device=args.device, dtype=args.dtype, num_heads=args.heads
    )
    axes = {
        "feature_map": args.feature_maps,
        "projection": args.projections,
        "num_features": args.num_features,
        "input_scale": args.scales,
        "seq_len": args.seq_lens,
        "head_dim": args.head_dims,
    }

    def progress(done: int, total: int, config: ExperimentConfig) -> None:
        if not args.quiet:
            print(
                f"\r[{done}/{total}] {config.feature_map} m={config.num_features} "
                f"σ={config.input_scale:g} L={config.seq_len} seed={config.seed}   ",
                end="" if done < total else "\n",
                file=sys.stderr,
                flush=True,
            )

    table = sweep(base, axes, seeds=range(args.seeds), progress=progress)
    if args.out is None:
        table.to_csv(sys.stdout, index=False)
    else:
        table.to_csv(args.out, index=False)
    return 0


def _run_figure(args: argparse.Namespace) -> int:
    from explorer.figures import presets as figures

    return figures.run(args)


def _run_bench(args: argparse.Namespace) -> int:
    from explorer.bench import run as bench

    return bench.run(args)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        commands = {
            "compare": run_compare,
            "sweep": run_sweep,
            "inspect": run_inspect,
            "capture": run_capture,
            "figure": _run_figure,
            "bench": _run_bench,
        }
        return commands[args.command](args)
    except (UsageError, ValueError) as error:  # ExplorerError is a ValueError
        message = " ".join(str(error).split())
        print(f"explorer: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except MemoryError:
        print(
            "explorer: error: out of memory: lower --seq-len, --heads or --num-features",
            file=sys.stderr,
        )
        return EXIT_USAGE
