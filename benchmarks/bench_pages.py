"""First-render and cached-rerun time of every page, through Streamlit's AppTest (not a test).

Goal on a 2-core CPU: first render ≤ 2 s, rerun with unchanged inputs ≤ 0.3 s. The first page
of a fresh app also pays the imports (torch, plotly); it is reported separately.

    python benchmarks/bench_pages.py [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.runtime.pages_manager import PagesManager  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

PAGES = [
    "pages/overview.py",
    "pages/data.py",
    "pages/attention_maps.py",
    "pages/error_distributions.py",
    "pages/scaling.py",
    "pages/theory.py",
]
FIRST_GOAL, RERUN_GOAL = 2.0, 0.3


def steady_state_navigation() -> None:
    """Streamlit's steady state on a live server, where the legacy ``pages/`` flag is off after
    the first run. AppTest resets it before every run, so each page run would go through
    ``ui.run_from_app`` (explorer/ui/entry.py) and time one more compile of app.py."""
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(page: str, repeats: int) -> dict:
    """A fresh app (empty caches) opened on ``page``: first render, then unchanged reruns."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()  # the overview, imports warm
    first = timed(lambda: at.switch_page(page).run())
    reruns = [timed(at.run) for _ in range(repeats)]
    errors = [e.value for e in at.error] + [str(e.message) for e in at.exception]
    return {"page": page, "first_s": first, "rerun_s": statistics.median(reruns), "errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    steady_state_navigation()
    cold = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    startup = timed(cold.run)
    rows = [measure(page, args.repeats) for page in PAGES if (ROOT / page).exists()]
    if args.json:
        print(json.dumps({"cold_start_s": startup, "pages": rows}, indent=2))
        return 0
    print(f"cold start (imports + overview): {startup:.2f} s")
    print(
        f"{'page':32s} {'first (s)':>10s} {'rerun (s)':>10s}  goals ≤ {FIRST_GOAL} / ≤ {RERUN_GOAL}"
    )
    for row in rows:
        ok = "ok" if row["first_s"] <= FIRST_GOAL and row["rerun_s"] <= RERUN_GOAL else "MISS"
        print(
            f"{row['page']:32s} {row['first_s']:10.2f} {row['rerun_s']:10.3f}  {ok}"
            + (f"  errors: {row['errors']}" if row["errors"] else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
