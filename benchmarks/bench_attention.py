"""FAVOR+ against exact attention (SDPA, naive) and performer-pytorch: time, memory, crossover.

A thin script over ``explorer.bench.run`` (the same code as ``python -m explorer bench``):

    python benchmarks/bench_attention.py --seq-lens 1024,4096,16384 --causal both --json

performer-pytorch rows need ``pip install --no-deps -r requirements-bench.txt``; without it they
are skipped with a note.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's explorer

from explorer.bench import run as bench  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench.add_arguments(parser)
    try:
        return bench.run(parser.parse_args(argv))
    except ValueError as error:
        print(f"bench_attention: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
