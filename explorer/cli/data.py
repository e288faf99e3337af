"""Command-line data commands: reading input files safely, ``inspect`` and ``capture``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from explorer.cli.common import OUT_DIR, csv_list, output_path, positive_int, respect_umask
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


def _files_and_roles(
    args: argparse.Namespace, paths: list[Path], limits: UploadLimits
) -> tuple[list[tuple[str, bytes]], list[str] | None]:
    """(name, bytes) of FILE arguments, or of --q/--k/--v with their roles."""
    named = [(args.q, "q"), (args.k, "k"), (args.v, "v")]
    named = [(path, role) for path, role in named if path is not None]
    if paths and named:
        raise InputError("give files, or --q/--k/--v, not both")
    if named:
        return [read_file(path, limits) for path, _ in named], [role for _, role in named]
    if not paths:
        raise InputError("nothing to read: give a file (or --q, --k, --v)")
    return [read_file(path, limits) for path in paths], None


def file_inputs(args: argparse.Namespace) -> AttentionInputs:
    """AttentionInputs from --input FILE, or from --q/--k/--v files (any supported format)."""
    from explorer.inputs.uploads.files import load_inputs

    limits = UploadLimits.from_env()
    if args.input is None and args.q is not None and args.k is None:
        raise InputError("--q needs --k (and optionally --v)")
    files, roles = _files_and_roles(args, [] if args.input is None else [args.input], limits)
    loaded = load_inputs(
        files, layout=args.layout, layer=args.layer, head=args.head, limits=limits, roles=roles
    )
    return loaded.inputs


def add_inspect(sub) -> None:
    parser = sub.add_parser(
        "inspect",
        help="describe what tensor files hold (also a partial set: what is there, what is missing)",
    )
    parser.add_argument(
        "files",
        type=Path,
        nargs="*",
        metavar="FILE",
        help="one file with q, k, v, or one per tensor",
    )
    parser.add_argument("--q", type=Path, help="queries, one tensor (instead of FILE)")
    parser.add_argument("--k", type=Path, help="keys, one tensor")
    parser.add_argument("--v", type=Path, help="values, one tensor")
    add_selection(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _show(value: object) -> str:
    return json.dumps(value, ensure_ascii=True, default=str)  # file text stays inert, one line


def run_inspect(args: argparse.Namespace) -> int:
    """Prints the report; exit 0 when it could be read (partial or not), 2 when q/k do not fit."""
    from explorer.inputs.uploads.describe import describe_files

    limits = UploadLimits.from_env()
    files, roles = _files_and_roles(args, list(args.files), limits)
    report = describe_files(
        files, roles=roles, layout=args.layout, layer=args.layer, head=args.head, limits=limits
    )
    if args.json:
        print(json.dumps(report, indent=2, default=str, ensure_ascii=True))
    else:
        for entry in report["files"]:
            tensors = ", ".join(
                f"{_show(t['name'])} {tuple(t['shape'])} {t['dtype']}" for t in entry["tensors"]
            )
            print(f"{_show(entry['file'])}: {entry['format']}, {entry['bytes']:,} bytes: {tensors}")
        for key, value in report.items():
            if key != "files":
                print(f"{key:14s} {_show(value)}")
    if report["problem"] and report["complete"]:
        raise InputError(str(report["problem"]))
    if report["missing"] and not args.json:
        print(f"partial: {', '.join(report['missing'])} missing", file=sys.stderr)
    return 0


def add_capture(sub) -> None:
    from explorer.inputs.capture import DEFAULT_MAX_TOKENS
    from explorer.inputs.models import MINILM, MODELS_ENV

    parser = sub.add_parser(
        "capture",
        help="capture each attention layer's q, k, v of a Hugging Face model for a text "
        "(offline; needs requirements-model.txt)",
    )
    parser.add_argument(
        "--model",
        default=MINILM,
        metavar="DIR|NAME",
        help=f"a local model directory (save_pretrained: config, weights, tokenizer), a name "
        f"from {MODELS_ENV}, or {MINILM!r}, the bundled all-MiniLM-L6-v2",
    )
    parser.add_argument("--text", required=True, help="the text to run through the model")
    parser.add_argument(
        "--out",
        type=Path,
        default=OUT_DIR / "capture.safetensors",
        metavar="FILE.safetensors",
        help="where to write the capture",
    )
    parser.add_argument(
        "--max-tokens",
        type=positive_int,
        default=DEFAULT_MAX_TOKENS,
        help="longest text, in tokens (special tokens included)",
    )
    parser.add_argument(
        "--layers",
        type=csv_list(int),
        metavar="I,J,...",
        help="capture only these layers (0-based; default all)",
    )


def run_capture(args: argparse.Namespace) -> int:
    from explorer.inputs.capture import capture_text, save_capture
    from explorer.inputs.models import host_models

    out = output_path(args.out, suffix=".safetensors", option="--out")
    model = host_models().get(args.model, args.model)
    capture = capture_text(args.text, model=model, max_tokens=args.max_tokens, layers=args.layers)
    path = save_capture(capture, out)
    respect_umask(path)
    softmax = capture.softmax
    windows = sorted({w for w in softmax.sliding_windows or () if w is not None})
    print(
        f"wrote {path}: q {capture.q.shape}, k/v {capture.k.shape} (layers, heads, tokens, dim), "
        f"{len(capture.tokens)} tokens; softmax scale {softmax.softmax_scale:.6g}, "
        f"{'causal' if softmax.causal else 'not causal'}"
        + (f", sliding windows {windows}" if windows else "")
        + (f", soft-cap {softmax.softcap:g}" if softmax.softcap else "")
    )
    return 0
