"""``python -m explorer swap``: replace attention inside a model, layer by layer, and measure.

Per schedule step: the swapped layers and each measure (mean over seeds, its standard
deviation, and the uniform swap's value beside it); see ``explorer.experiments.swap``.
"""

from __future__ import annotations

import argparse
import json

from explorer.cli.common import (
    add_budget,
    budget_from,
    json_safe,
    listing,
    positive_int,
    projection_name,
)
from explorer.cli.progress import Progress
from explorer.experiments.swap import METHODS, SCHEDULES, SwapConfig, run_swap

DEFAULT = SwapConfig()
TABLE = (  # (key, heading, format) of the text table, when present in the result
    ("hidden_relative_error", "hidden err", "{:.4f}"),
    ("uniform_hidden_relative_error", "uniform", "{:.4f}"),
    ("embedding_cosine", "emb cos", "{:.4f}"),
    ("uniform_embedding_cosine", "uniform", "{:.4f}"),
    ("pair_spearman", "pairs ρ", "{:.3f}"),
    ("uniform_pair_spearman", "uniform", "{:.3f}"),
    ("next_token_kl", "KL nats", "{:.4f}"),
    ("uniform_next_token_kl", "uniform", "{:.4f}"),
    ("top1_agreement", "top-1", "{:.3f}"),
    ("uniform_top1_agreement", "uniform", "{:.3f}"),
)


def method_name(text: str) -> str:
    if text not in METHODS:
        raise argparse.ArgumentTypeError(
            f"unknown feature map {text!r} (choose from {listing(METHODS)})"
        )
    return text


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "swap",
        help="replace attention inside a model (minilm or a local directory) and measure drift",
        description="Run a Hugging Face model with its attention replaced, in the layers of a "
        "schedule, by a feature map's linear attention (or exact, or uniform) and measure what "
        "its outputs lose against the unmodified model, beside the uniform swap of the same "
        "layers. Needs requirements-model.txt.",
    )
    parser.add_argument(
        "--model", required=True, metavar="DIR|minilm", help="minilm or a save_pretrained folder"
    )
    parser.add_argument("--text", required=True, help="the text to run through the model")
    parser.add_argument(
        "--feature-map",
        type=method_name,
        default=DEFAULT.method,
        metavar="NAME",
        help=f"what replaces attention, one of: {listing(METHODS)}",
    )
    parser.add_argument(
        "--num-features", type=positive_int, default=DEFAULT.num_features, metavar="M",
        help="m, the number of random vectors (trig and hyperbolic give 2m features)",
    )  # fmt: skip
    parser.add_argument(
        "--projection",
        type=projection_name,
        default=DEFAULT.projection,
        metavar="NAME",
        help="how W's rows are drawn",
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=DEFAULT.seeds, metavar="N",
        help="feature draws per step (seeds --seed … --seed + N − 1)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=DEFAULT.seed, help="the first seed")
    parser.add_argument(
        "--schedule",
        choices=list(SCHEDULES),
        default=DEFAULT.schedule,
        help="all: every layer at once; first: the first k layers, k = 1 … n (Performer "
        "Fig. 14); each: one layer at a time",
    )
    parser.add_argument(
        "--max-tokens", type=positive_int, default=DEFAULT.max_tokens, help="longest text"
    )
    parser.add_argument(
        "--pairs",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT.pairs,
        help="encoders: also the Spearman ρ of the shipped sentence pairs' similarities",
    )
    add_budget(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from explorer.experiments.swap_models import load_swap_model

    config = SwapConfig(
        method=args.feature_map,
        num_features=args.num_features,
        projection=args.projection,
        seeds=args.seeds,
        seed=args.seed,
        schedule=args.schedule,
        max_tokens=args.max_tokens,
        pairs=args.pairs,
    )
    budget = budget_from(args)
    model = load_swap_model(args.model)
    progress = Progress(quiet=args.quiet)
    result = run_swap(model, args.text, config, progress=progress.update, budget=budget).to_dict()
    progress.close()
    if args.json:
        print(json.dumps(json_safe(result), indent=2))
        return 0
    print(
        f"{result['model']} ({result['kind']}, {result['num_layers']} layers, "
        f"{result['tokens']} tokens): {config.method}"
        + (
            f", m = {config.num_features}, {config.projection}"
            if config.method in METHODS[2:]
            else ""
        )
        + (f", seeds {result['seeds']}" if result["seeds"] else "")
    )
    columns = [c for c in TABLE if c[0] in result["steps"][0]]
    print(f"{'layers':>14s}  " + "  ".join(f"{head:>10s}" for _, head, _ in columns))
    for step in result["steps"]:
        layers = step["layers"]
        name = f"{layers[0]}–{layers[-1]}" if len(layers) > 1 else str(layers[0])
        cells = ["n/a" if step[key] is None else fmt.format(step[key]) for key, _, fmt in columns]
        print(f"{name:>14s}  " + "  ".join(f"{cell:>10s}" for cell in cells))
    return 0
