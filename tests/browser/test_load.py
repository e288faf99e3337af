"""Load test, small size: concurrent browser sessions are all served, without errors.

Runs ``benchmarks/load_test.py`` (see its docstring for the cycle each user repeats: a URL with
settings, a new feature seed typed in the sidebar, a page switch, an upload) with 3 Chromium
sessions for 15 s against a real ``streamlit run`` on 127.0.0.1, after a warm-up. The figures
for 20 sessions come from the script itself (``--sessions 20 --client ws``): 20 Chromium pages
are more than a 2-core CI machine can render.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SESSIONS, SECONDS = 3, 15
# The interactive pages. The error-distribution, scaling and theory pages run sweeps that cost
# up to tens of seconds of CPU on a first visit with new settings: the smoke test renders them,
# and the 20-user benchmark includes them (``--pages``); here they would take the time budget.
PAGES = ("data", "attention_maps")

# RSS growth allowed over the run, after a warm-up that imported everything. Measured for this
# size (3 sessions, ~16 requests): 25-50 MB. Where it goes, all bounded: new entries of the
# shared comparison cache (~0.9 MB for one comparison of the built-in sample; a request adds
# 1 to 7, as the attention-map page caches one per layer; the cache is capped at 512 MB), the
# sessions of closed pages that Streamlit keeps for server.disconnectedSessionTTL (120 s), and
# the malloc arenas of new script threads. 250 MB is 5x the worst measured, so a loaded CI
# machine passes; a request leaking more than ~15 MB (a session holding on to its tensors, an
# unbounded cache of comparisons) exceeds it. (20 users over three rounds: a plateau near 1 GB,
# docs/deployment.md.)
RSS_GROWTH_MB = 250

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]
pytest.importorskip("playwright.async_api", reason="playwright is not installed")


def load_test_module():
    """benchmarks/load_test.py as a module (benchmarks/ is not a package)."""
    if "aae_load_test" in sys.modules:
        return sys.modules["aae_load_test"]
    spec = importlib.util.spec_from_file_location("aae_load_test", ROOT / "benchmarks/load_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_concurrent_sessions_are_served_without_errors():
    load_test = load_test_module()
    with load_test.Server() as server:
        load = load_test.run_load(server, SESSIONS, SECONDS, client="browser", pages=PAGES)
        report = load_test.run_async(load)
    print(load_test.table(report))  # shown with -s or on failure
    assert report["errors"] == 0, report["error_details"]
    assert report["health"] == {"before": "ok", "after": "ok"}
    served = {kind: row["n"] for kind, row in report["latency_s"].items()}
    assert served["url"] >= SESSIONS, served  # every user got at least its first page
    assert served["widget"] >= 1 and served["page"] >= 1 and served["upload"] >= 1, served
    assert report["rss_mb"]["growth"] < RSS_GROWTH_MB, report["rss_mb"]
