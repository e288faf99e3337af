"""``python -m explorer report``: which heads of a model can be linearised, how, at what m.

Reads a capture file (``.safetensors`` with q (layers, h, l, d), k, v (layers, h_kv, l, ·); any
other file ``compare --input`` reads is a report of one layer), runs ``model_report`` over the
grid and writes ``DIR/report.csv``, ``DIR/summary.csv`` and ``DIR/report.html``; finished layers
are checkpointed in ``DIR/checkpoints`` so a killed run resumes. ``--json``: the summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from explorer.cli.common import (
    OUT_DIR,
    add_budget,
    budget_from,
    csv_list,
    feature_map_name,
    json_safe,
    listing,
    positive_int,
    projection_name,
)
from explorer.cli.progress import Progress
from explorer.experiments.report_grid import DEFAULT_GRID, ReportGrid
from explorer.kernels.feature_maps import FEATURE_MAPS
from explorer.kernels.projections import PROJECTIONS

EXECUTOR_CHOICES = ("local", "ray")


def add_parser(sub) -> None:
    rep = sub.add_parser(
        "report",
        help="every layer × head of a capture against a grid of maps, m and seeds",
        description="For every layer and head of a capture: every feature map, projection, m "
        "and seed of the grid, each cell equal to compare on that head; per head the best map "
        "and the m it needs for the target; per model how many heads can be linearised.",
    )
    rep.add_argument("--input", type=Path, required=True, help="capture file (.safetensors)")
    rep.add_argument(
        "--out",
        type=Path,
        default=OUT_DIR / "report",
        metavar="DIR",
        help="folder of report.csv, summary.csv, report.html and checkpoints",
    )
    rep.add_argument(
        "--feature-maps",
        type=csv_list(feature_map_name),
        default=list(DEFAULT_GRID.feature_maps),
        metavar="LIST",
        help=f"comma-separated feature maps, from: {listing(FEATURE_MAPS)}",
    )
    rep.add_argument(
        "--projections",
        type=csv_list(projection_name),
        default=list(DEFAULT_GRID.projections),
        metavar="LIST",
        help=f"comma-separated projections, from: {listing(PROJECTIONS)}",
    )
    rep.add_argument(
        "--num-features",
        type=csv_list(positive_int),
        default=list(DEFAULT_GRID.num_features),
        metavar="LIST",
        help="comma-separated m values",
    )
    rep.add_argument(
        "--seeds",
        type=positive_int,
        default=len(DEFAULT_GRID.seeds),
        metavar="N",
        help="feature seeds 0..N-1 per cell",
    )
    rep.add_argument(
        "--target-ratio",
        type=float,
        default=DEFAULT_GRID.target_ratio,
        help="target: mean output error ≤ RATIO × the head's uniform baseline",
    )
    rep.add_argument(
        "--target-error",
        type=float,
        metavar="ERROR",
        help="absolute target instead: mean output error ≤ ERROR",
    )
    rep.add_argument(
        "--row-sample",
        type=positive_int,
        metavar="N",
        help="query rows per head behind the attention-matrix metrics (long "
        "captures); the output errors stay exact over every row",
    )
    rep.add_argument(
        "--layers",
        type=csv_list(int),
        metavar="LIST",
        help="comma-separated capture entries (default: all)",
    )
    rep.add_argument(
        "--heatmap-m",
        type=positive_int,
        metavar="M",
        help="m of the error / baseline heatmap (default: the grid's nearest to 256)",
    )
    rep.add_argument(
        "--executor",
        choices=EXECUTOR_CHOICES,
        default="local",
        help="local: this process; ray: a Ray cluster (requirements-scale.txt)",
    )
    rep.add_argument(
        "--address",
        help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray started for this run)",
    )
    rep.add_argument("--device", default=DEFAULT_GRID.device, help="auto, cpu, cuda, mps")
    rep.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    rep.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_budget(rep)


def _source(path: Path):
    """A capture (every layer) from .safetensors with 4-D q, else one layer via the uploads."""
    from explorer.errors import InputError
    from explorer.inputs.capture_file import load_capture

    if path.suffix == ".safetensors":
        try:
            return load_capture(path)
        except InputError as error:
            if "do not fit" not in str(error) and "layout" not in str(error):
                raise
    from explorer.cli.data import file_inputs

    layer = argparse.Namespace(
        input=path, q=None, k=None, v=None, layout="auto", layer=None, head=None
    )
    return file_inputs(layer)


def run(args: argparse.Namespace) -> int:
    from explorer.charts.report_html import write_report
    from explorer.experiments.report import as_source, model_report

    if not args.input.is_file():
        raise ValueError(f"--input {args.input}: no such file")
    grid = ReportGrid(
        feature_maps=tuple(args.feature_maps),
        projections=tuple(args.projections),
        num_features=tuple(args.num_features),
        seeds=tuple(range(args.seeds)),
        target_ratio=args.target_ratio,
        target_error=args.target_error,
        row_sample=args.row_sample,
        layers=None if args.layers is None else tuple(args.layers),
        device=args.device,
    )
    source = as_source(_source(args.input))
    first = source.layer(grid.layers[0] if grid.layers else 0)
    budget_from(args).check_report(grid, first)  # every cell fits, before the first starts
    address = args.address or os.environ.get("RAY_ADDRESS")
    progress = Progress(quiet=args.quiet)
    report = model_report(
        source,
        grid,
        out_dir=args.out,
        executor=args.executor,
        address=address,
        progress=lambda done, total, text: progress.update(done, total, text),
    )
    paths = write_report(report, args.out, num_features=args.heatmap_m)
    resumed = f", {len(report.resumed_layers)} layer(s) resumed" if report.resumed_layers else ""
    progress.note(
        f"wrote {', '.join(str(p) for p in paths)}: {len(report.cells):,} cells in "
        f"{report.seconds:.1f} s{resumed}"
    )
    progress.note(report.recommendation)
    if args.json:
        payload = {
            "recommendation": report.recommendation,
            "target": grid.target_label(),
            "notes": list(grid.notes()),
            "counts": report.counts.to_dict(orient="records"),
            "summary": report.summary.to_dict(orient="records"),
        }
        print(json.dumps(json_safe(payload), indent=2, default=float))
    return 0
