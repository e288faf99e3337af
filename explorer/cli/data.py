"""Command-line data commands: reading input files safely, ``inspect`` and ``capture``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from explorer.cli.common import OUT_DIR, output_path, respect_umask
from explorer.errors import InputError
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.inputs.layouts import LAYOUTS
from explorer.inputs.uploads.limits import UploadLimits, human_bytes


def read_file(path: Path, limits: UploadLimits) -> tuple[str, bytes]:
    """(name, bytes) of a file, refused before reading when it is over the byte cap."""
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise InputError(
                f"{path} is {human_bytes(size)}; at most {human_bytes(limits.max_bytes)} "
                "(EXPLORER_MAX_UPLOAD_BYTES)"
            )
        return path.name, path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None


def add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--layout",
        default="auto",
        choices=list(LAYOUTS),
        help="axis order of the tensors (auto: from metadata or the shape)",
    )
    parser.add_argument(
        "--layer",
        type=int,
        help="index on the first axis of 4-D tensors (layers or batch; default 0)",
    )
    parser.add_argument("--head", type=int, help="keep one head (default: all heads)")


def file_inputs(args: argparse.Namespace) -> AttentionInputs:
    """AttentionInputs from --input FILE, or from --q/--k/--v files (any supported format)."""
    from explorer.inputs.uploads.files import load_inputs

    limits = UploadLimits.from_env()
    if args.input is not None:
        files, roles = [read_file(args.input, limits)], None
    else:
        if args.k is None:
            raise InputError("--q needs --k (and optionally --v)")
        paths = [(args.q, "q"), (args.k, "k")] + ([(args.v, "v")] if args.v else [])
        files = [read_file(path, limits) for path, _ in paths]
        roles = [role for _, role in paths]
    loaded = load_inputs(
        files, layout=args.layout, layer=args.layer, head=args.head, limits=limits, roles=roles
    )
    return loaded.inputs


def add_inspect(sub) -> None:
    parser = sub.add_parser("inspect", help="describe what a tensor file holds")
    parser.add_argument("file", type=Path)
    add_selection(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_inspect(args: argparse.Namespace) -> int:
    from explorer.inputs.uploads.files import describe

    limits = UploadLimits.from_env()
    name, data = read_file(args.file, limits)
    report = describe(
        data, name, layout=args.layout, layer=args.layer, head=args.head, limits=limits
    )
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for key, value in report.items():
            print(f"{key:14s} {value}")
    problem = report.get("problem")
    if problem:
        raise InputError(str(problem))
    return 0


def add_capture(sub) -> None:
    parser = sub.add_parser(
        "capture",
        help="capture Q/K/V of all-MiniLM-L6-v2 for a text (needs requirements-model.txt)",
    )
    parser.add_argument("--text", required=True, help="the text to run through the model")
    parser.add_argument(
        "--out",
        type=Path,
        default=OUT_DIR / "capture.safetensors",
        metavar="FILE.safetensors",
        help="where to write the capture",
    )
    parser.add_argument("--max-tokens", type=int, default=128, help="longest text, in tokens")


def run_capture(args: argparse.Namespace) -> int:
    from explorer.inputs.capture import capture_qkv, save_capture

    out = output_path(args.out, suffix=".safetensors", option="--out")
    capture = capture_qkv(args.text, max_tokens=args.max_tokens)
    path = save_capture(capture, out)
    respect_umask(path)
    print(
        f"wrote {path}: q, k, v of shape {capture.q.shape} (layers, heads, tokens, dim), "
        f"{len(capture.tokens)} tokens"
    )
    return 0
