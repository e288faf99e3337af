"""``python -m explorer figure NAME``: a paper figure as a tidy CSV and HTML, PNG, SVG or PDF."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from explorer.charts.export import STATIC_FORMATS, static_export_problem
from explorer.cli.common import OUT_DIR, csv_list
from explorer.cli.progress import Progress
from explorer.figures.presets import FIGURES

FORMATS = ("html", *STATIC_FORMATS)


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "figure",
        help=f"reproduce a paper figure ({', '.join(FIGURES)}) as CSV and HTML/PNG/SVG/PDF",
        description="Compute a paper figure's table and write NAME.csv plus the figure in each "
        "format asked for. Other sizes and scales add to the name: NAME_quick, NAME_sigma0.7.",
    )
    parser.add_argument("name", choices=list(FIGURES), help="which paper figure")
    parser.add_argument(
        "--out", type=Path, default=OUT_DIR / "figures", help="folder for the files"
    )
    parser.add_argument(
        "--size", default="paper", choices=["paper", "quick"], help="paper: the paper's sizes"
    )
    parser.add_argument("--scale", type=float, help="σ of synthetic q, k (figures that draw)")
    parser.add_argument(
        "--format",
        type=csv_list(_format),
        default=["html"],
        metavar="LIST",
        help=f"comma-separated formats of the figure, from: {', '.join(FORMATS)} (the static "
        "ones need kaleido and Chromium; without them they are skipped with a note)",
    )
    parser.add_argument(
        "--cdn", action="store_true", help="HTML loads plotly.js from its CDN (small file)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _format(text: str) -> str:
    if text not in FORMATS:
        raise argparse.ArgumentTypeError(
            f"unknown format {text!r} (choose from {', '.join(FORMATS)})"
        )
    return text


def run(args: argparse.Namespace) -> int:
    """Compute the figure, write its files and print them with the key numbers."""
    from explorer.figures.files import write_figure

    progress = Progress(quiet=args.quiet)
    formats = list(dict.fromkeys(args.format))
    problem = static_export_problem()
    if problem and set(formats) & set(STATIC_FORMATS):
        skipped = [f for f in formats if f in STATIC_FORMATS]
        print(f"note: {', '.join(skipped)} skipped: {problem}", file=sys.stderr)
        formats = [f for f in formats if f not in STATIC_FORMATS]
    paths, numbers = write_figure(
        args.name,
        args.out,
        size=args.size,
        scale=args.scale,
        formats=tuple(formats),
        plotlyjs="cdn" if args.cdn else True,
        progress=progress.update,
    )
    progress.close()
    for kind, path in paths.items():
        print(f"wrote {kind:4s} {path}", file=sys.stderr)
    for key, value in numbers.items():
        print(f"{key}: {value:.6g}")
    return 0
