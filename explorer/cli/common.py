"""What every command shares: one-line errors, choices read from the registries, the budget,
device options and files written where the user asked, with the user's umask.

Choices and defaults come from the registries (``FEATURE_MAPS``, ``PROJECTIONS``,
``SYNTHETIC_KINDS``, ``DTYPES``) and ``ExperimentConfig``'s defaults: never retyped here.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import fields, replace
from pathlib import Path

from explorer.device import DTYPES
from explorer.experiments.budget import ENV, Budget
from explorer.experiments.config import DEFAULTS
from explorer.kernels.feature_maps import FEATURE_MAPS
from explorer.kernels.projections import PROJECTIONS, get_projection

EXIT_USAGE = 2
OUT_DIR = Path("out")  # default folder of written files (.gitignore ignores it)


class UsageError(Exception):
    """A bad command line: reported in one line with exit code 2."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless it has none (None, False) or its help names one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in text:
            return text
        if isinstance(action.default, list):
            return f"{text} (default: {','.join(map(str, action.default))})"
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and defaults shown in every option's help."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # argparse's own errors: one line, no usage dump
        raise UsageError(message)


def listing(names: Iterable[str]) -> str:
    return ", ".join(names)


def feature_map_name(text: str) -> str:
    if text not in FEATURE_MAPS:
        raise argparse.ArgumentTypeError(
            f"unknown feature map {text!r} (choose from {listing(FEATURE_MAPS)})"
        )
    return text


def projection_name(text: str) -> str:
    """A projection; ``fixed-norm`` is accepted for ``fixed_norm`` (the documented spelling)."""
    try:
        return get_projection(text).name
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown projection {text!r} (choose from {listing(PROJECTIONS)})"
        ) from None


def csv_list(kind: Callable[[str], object]) -> Callable[[str], list]:
    """A comma-separated list of ``kind`` values (at least one)."""

    def parse(text: str) -> list:
        try:
            values = [kind(item.strip()) for item in text.split(",") if item.strip()]
        except (ValueError, argparse.ArgumentTypeError) as error:
            raise argparse.ArgumentTypeError(f"bad list {text!r}: {error}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"empty list {text!r}")
        return values

    return parse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def add_approximation(parser: argparse.ArgumentParser) -> None:
    """--feature-map, --num-features, --projection, --seed, --causal (defaults: the config's)."""
    parser.add_argument(
        "--feature-map",
        type=feature_map_name,
        default=DEFAULTS.feature_map,
        metavar="NAME",
        help=f"feature map φ, one of: {listing(FEATURE_MAPS)}",
    )
    parser.add_argument(
        "--num-features",
        type=positive_int,
        default=DEFAULTS.num_features,
        metavar="M",
        help="m, the number of random vectors (trig, hyperbolic: 2m features; hybrid ≈ 3m)",
    )
    parser.add_argument(
        "--projection",
        type=projection_name,
        default=DEFAULTS.projection,
        metavar="NAME",
        help=f"how W's rows are drawn, one of: {listing(PROJECTIONS)}",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULTS.seed, help="seed of the random features W"
    )
    add_device_options(parser)


def add_softmax_options(parser: argparse.ArgumentParser) -> None:
    """--causal/--no-causal, --softmax-scale, --window, --softcap: default, the inputs' own."""
    parser.add_argument(
        "--causal",
        action=argparse.BooleanOptionalAction,
        default=DEFAULTS.causal,
        help="causal (autoregressive) masking; default: the input's own (a capture records "
        "its model's), else not causal",
    )
    parser.add_argument(
        "--softmax-scale",
        type=float,
        default=DEFAULTS.softmax_scale,
        metavar="SCALE",
        help="the factor of q·k; default: the input's own, else 1/√d",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=DEFAULTS.window,
        metavar="KEYS",
        help="sliding window of causal attention (query i sees keys i − KEYS < j ≤ i; 0: "
        "none); default: the input's own per layer, else none",
    )
    parser.add_argument(
        "--softcap",
        type=float,
        default=DEFAULTS.softcap,
        metavar="C",
        help="soft-cap the logits t to C·tanh(t/C) (0: none); default: the input's own, else none",
    )


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """--causal and the other softmax options, --device, --dtype."""
    add_softmax_options(parser)
    parser.add_argument(
        "--device", default=DEFAULTS.device, help="auto (cuda, then mps, then cpu), cpu, cuda, mps"
    )
    parser.add_argument(
        "--dtype",
        default=DEFAULTS.dtype,
        choices=list(DTYPES),
        help="input precision (half types are computed with float32 features and sums)",
    )


def add_budget(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="LIMIT=VALUE",
        help="raise or lower one request limit for this run, e.g. max_seq_len=200000 or "
        f"memory_mb=16000 (limits: {listing(ENV)}; also the EXPLORER_* environment variables)",
    )


def budget_from(args: argparse.Namespace) -> Budget:
    """The environment's budget with the command line's --budget overrides."""
    budget = Budget.from_env()
    known = {f.name for f in fields(Budget)}
    changes = {}
    for item in getattr(args, "budget", []) or []:
        name, _, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if name not in known or not value.strip().isdigit():
            raise UsageError(
                f"--budget {item!r}: use LIMIT=INTEGER with LIMIT one of {listing(sorted(known))}"
            )
        changes[name] = int(value)
    return replace(budget, **changes)


def output_path(path: Path, *, suffix: str, option: str) -> Path:
    """The file the user asked for, which must end in ``suffix``; its folder is created."""
    path = Path(path)
    if path.suffix != suffix:
        raise UsageError(f"{option} must end in {suffix}, got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def respect_umask(path: Path) -> None:
    """Give a written file the mode a plain ``open`` would (some writers use 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def json_safe(value):
    """JSON has no inf or NaN: they become the strings "inf", "-inf", "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
