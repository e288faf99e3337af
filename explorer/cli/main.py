"""The command line, the dashboard's headless twin: ``python -m explorer COMMAND``.

Bad arguments or inputs print one line, ``explorer: error: ...``, on stderr and exit with 2;
work over the request budget is refused before anything large is allocated, with the limit's
name in that line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from explorer.cli import bench, compare, data, figure, report, swap, sweep
from explorer.cli.common import EXIT_USAGE, Parser, UsageError
from explorer.errors import BudgetError
from explorer.experiments.budget import ENV

DESCRIPTION = (
    "Attention Approximation Explorer: exact softmax attention against random-feature "
    "approximations (FAVOR+ and relatives), headless. Each command has its own --help."
)
COMMANDS = {
    "compare": compare.run,
    "sweep": sweep.run,
    "inspect": data.run_inspect,
    "capture": data.run_capture,
    "figure": figure.run,
    "bench": bench.run,
    "report": report.run,
    "swap": swap.run,
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m explorer", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    compare.add_parser(sub)
    sweep.add_parser(sub)
    data.add_inspect(sub)
    data.add_capture(sub)
    figure.add_parser(sub)
    bench.add_parser(sub)
    report.add_parser(sub)
    swap.add_parser(sub)
    return parser


def _fail(message: str) -> int:
    print(f"explorer: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except BudgetError as error:
        limits = [name for name, env in ENV.items() if env in str(error)]
        hint = f"--budget {limits[0]}=VALUE" if limits else "--budget LIMIT=VALUE"
        return _fail(f"{error}; on your own machine raise it for one run with {hint}")
    except (UsageError, ValueError) as error:  # ExplorerError is a ValueError
        return _fail(str(error))
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except MemoryError:
        return _fail("out of memory: lower --seq-len, --heads or --num-features")
