"""``python -m explorer compare``: exact vs approximate attention on one input, with a reading."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from explorer.cli.common import (
    UsageError,
    add_approximation,
    add_budget,
    budget_from,
    json_safe,
    output_path,
    positive_int,
)
from explorer.cli.data import add_selection, file_inputs
from explorer.cli.progress import Progress
from explorer.device import resolve_device
from explorer.errors import ExplorerError
from explorer.experiments.budget import Workload
from explorer.experiments.compare import Comparison, ExperimentConfig, compare, synthetic_inputs
from explorer.experiments.config import DEFAULTS
from explorer.experiments.reading import read_comparison
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.inputs.synthetic import SYNTHETIC_KINDS, SYNTHETIC_LABELS
from explorer.kernels.recipes import RECIPES


def add_parser(sub) -> None:
    cmp = sub.add_parser(
        "compare",
        help="exact vs approximate attention on one input",
        description="Exact softmax attention against a random-feature approximation on "
        "synthetic inputs or your own tensors: every error metric beside its uniform-attention "
        "baseline, and a reading of what they mean.",
    )
    source = cmp.add_mutually_exclusive_group(required=True)
    source.add_argument("--synthetic", action="store_true", help="synthetic q, k, v (see --data)")
    source.add_argument(
        "--input", type=Path, help="one file with q, k (and v): .safetensors, .npz, .npy or .pt"
    )
    source.add_argument("--q", type=Path, help="queries, one tensor (.npy, .safetensors, ...)")
    cmp.add_argument("--k", type=Path, help="keys, one tensor; needed with --q")
    cmp.add_argument("--v", type=Path, help="values, one tensor; optional")
    add_selection(cmp)
    kinds = "; ".join(f"{k}: {SYNTHETIC_LABELS[k]}" for k in SYNTHETIC_KINDS)
    cmp.add_argument(
        "--data", default=DEFAULTS.data_kind, choices=list(SYNTHETIC_KINDS), help=kinds
    )
    cmp.add_argument("--seq-len", type=positive_int, default=DEFAULTS.seq_len, help="L, tokens")
    cmp.add_argument("--head-dim", type=positive_int, default=DEFAULTS.head_dim, help="d")
    cmp.add_argument("--heads", type=positive_int, default=DEFAULTS.num_heads, help="h")
    cmp.add_argument(
        "--scale",
        type=float,
        default=DEFAULTS.input_scale,
        help="σ, the standard deviation of synthetic q, k entries (|x+y|² grows like σ²√d)",
    )
    cmp.add_argument(
        "--data-seed", type=int, default=DEFAULTS.data_seed, help="seed of synthetic q, k, v"
    )
    add_approximation(cmp)
    cmp.add_argument(
        "--recipe",
        default=DEFAULTS.recipe,
        choices=list(RECIPES),
        help="whose recipe: "
        + "; ".join(f"{name}: {r.label}" for name, r in RECIPES.items())
        + ". A peer's sets the feature map, W, eps, stabiliser and seed policy (--feature-map "
        "and --projection are then not used; --num-features is still m)",
    )
    cmp.add_argument(
        "--row-sample",
        type=positive_int,
        metavar="N",
        help="attention-matrix metrics on N sampled query rows per head (output errors stay "
        "exact over all rows): long inputs in a fraction of the time",
    )
    cmp.add_argument(
        "--control",
        action="store_true",
        help="also run a norms-matched control (same row norms, random directions), 5 draws",
    )
    add_budget(cmp)
    cmp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    cmp.add_argument(
        "--save", type=Path, metavar="FILE.npz", help="write exact_output and approx_output"
    )
    cmp.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _inputs(args: argparse.Namespace) -> AttentionInputs | None:
    if args.synthetic:
        return None
    if args.q is None and (args.k is not None or args.v is not None):
        raise UsageError("--k/--v go with --q")
    return file_inputs(args)


def summary(result: Comparison) -> dict:
    """The scalars of a comparison, its reading and the config, JSON-able."""
    metrics = {f.name: getattr(result.metrics, f.name) for f in fields(result.metrics)}
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, np.ndarray)}
    stats, reading = result.statistics, read_comparison(result)
    return {
        **scalars,
        "skill": reading.skill,
        "regime": reading.regime,
        "reading": reading.sentence,
        "regime_reading": reading.regime_sentence,
        "inputs": result.inputs_name,
        "device": result.device,
        "feature_dim": result.feature_dim,
        "recipe": result.config.recipe,
        "estimates": result.estimates.summary,
        "unbiased_for_softmax": result.estimates.unbiased_for_softmax,
        "negative_rows": result.negative_rows,
        "small_rows": result.small_rows,
        "out_of_range_rows": result.out_of_range_rows,
        "recomputed_rows": result.recomputed_rows,
        "mean_sq_norm_x": float(stats.x_sq_norms.mean()),
        "mean_pair_sq_sum": float(stats.mean_pair_sq_sum.mean()),
        "approx_seconds": result.timings.approx_seconds,
        "reference_seconds": result.timings.reference_seconds,
        "softmax": asdict(result.softmax),
        "config": asdict(result.config),
        # a fitted map: its training and the rows every metric above covers (the held-out ones)
        "fit": None if result.fit is None else {**asdict(result.fit), "rows": result.fit.rows_note},
    }


def run(args: argparse.Namespace) -> int:
    progress = Progress(quiet=args.quiet)
    resolve_device(args.device)  # an unknown or absent device fails before any work
    save = None if args.save is None else output_path(args.save, suffix=".npz", option="--save")
    inputs = _inputs(args)
    config = ExperimentConfig(
        feature_map=args.feature_map,
        num_features=args.num_features,
        projection=args.projection,
        seed=args.seed,
        causal=args.causal,
        softmax_scale=args.softmax_scale,
        window=args.window,
        softcap=args.softcap,
        device=args.device,
        dtype=args.dtype,
        seq_len=args.seq_len,
        head_dim=args.head_dim,
        num_heads=args.heads,
        input_scale=args.scale,
        data_seed=args.data_seed,
        data_kind=args.data,
        row_sample=args.row_sample,
        recipe=args.recipe,
    )
    budget_from(args).check_comparison(Workload.of(config, inputs))  # before anything large
    steps = 2 if args.control else 1
    progress.update(0, steps, "comparing")
    result = compare(config, inputs, with_maps=False)  # the CLI prints no maps
    out = summary(result)
    if args.control:
        from explorer.experiments.control import control_runs, control_summary

        progress.update(1, steps, "norms-matched control, 5 + 5 draws")
        source = synthetic_inputs(config) if inputs is None else inputs
        out["control"] = control_summary(*control_runs(config, source))
    progress.update(steps, steps, "done")
    if save is not None:
        if result.exact_output is None:
            raise ExplorerError("--save needs V: outputs cannot be computed without values")
        np.savez(save, exact_output=result.exact_output, approx_output=result.approx_output)
        out["written"] = [str(save)]
        print(
            f"wrote {save}: exact_output, approx_output {result.exact_output.shape}",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(json_safe(out), indent=2))
        return 0
    print(f"reading: {out['reading']}")
    print(f"regime:  {out['regime_reading']}")
    print(f"kernel:  {out['estimates']}")
    print(f"softmax: {result.softmax.label}")
    if result.fit is not None:
        print(f"fit:     {result.fit.summary}")
    skip = ("config", "control", "reading", "estimates", "softmax", "fit")
    flat = {k: v for k, v in out.items() if k not in skip}
    flat.pop("regime_reading")
    flat.update({f"control.{k}": v for k, v in out.get("control", {}).items()})
    for key, value in flat.items():
        print(f"{key:44s} {value:.6g}" if isinstance(value, float) else f"{key:44s} {value}")
    return 0
