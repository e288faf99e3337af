"""Cancel in Chromium: a sweep stops within a second of the click and the app stays usable.

A real ``streamlit run`` on 127.0.0.1 (one per module). The Error distributions page runs a
sweep of 32 comparisons on synthetic data with L = 4096, 4 heads and m = 512 (about 1.5 s each
on 2 cores: some 50 s of work). Once it is a few runs in, the test clicks "Cancel" and
measures:

- the work: the server's CPU time (all its threads, /proc) over the 2 s from 1 s after the
  click. An uncancelled sweep burns about 2 CPU-seconds per second there (torch uses both
  cores); after a cancel only the idle server remains. The bound, 0.4 CPU-s in 2 s (20 % of
  one core), leaves room for the run the click starts (it replays cached results and takes
  well under a second of CPU) finishing late on a loaded machine, and is 10× below a sweep
  still running. This is the issue's "stops the work within a second", measured on the server.
- the page: the "cancelled" note appears, the progress bar and Cancel button are gone, the app
  is idle; then another page computes and renders its charts (the compute slot was freed).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.browser.test_load import CHROMIUM, load_test_module

URL = "/error_distributions?src=synthetic&L=4096&H=4&m=512"
RUN_TIMEOUT_MS = 300_000
WINDOW_S = (1.0, 3.0)  # after the click: the CPU of the work, if any were left
MAX_CPU_S = 0.4
NOTE_TIMEOUT_S = 10.0  # the note itself: generous, a loaded CI machine renders slowly

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def sample(cpu, samples: list[tuple[float, float]], seconds: float) -> None:
    """(time since start, cpu()) every 0.1 s for ``seconds``."""
    start = time.monotonic()
    while (now := time.monotonic() - start) < seconds:
        samples.append((now, cpu()))
        time.sleep(0.1)


@pytest.fixture(scope="module")
def load_test():
    return load_test_module()


def test_cancel_stops_a_sweep_within_a_second_and_the_app_stays_usable(load_test):
    with load_test.Server() as server, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=load_test.CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route(
            lambda u: not u.startswith(server.url), lambda route: route.abort("blockedbyclient")
        )
        context.add_init_script(load_test.RUN_COUNTER)
        page = context.new_page()
        page.goto(f"{server.url}{URL}", timeout=RUN_TIMEOUT_MS)
        cancel = page.get_by_role("button", name="Cancel the redraws")
        cancel.wait_for(timeout=RUN_TIMEOUT_MS)
        page.get_by_text("Run 3/32").wait_for(timeout=RUN_TIMEOUT_MS)  # well into the sweep
        cpu = lambda: load_test.cpu_seconds(server.process.pid)  # noqa: E731
        busy = cpu()
        time.sleep(1.0)
        busy = cpu() - busy  # CPU-s per second while the sweep runs
        samples: list[tuple[float, float]] = []  # (seconds after the click, server CPU-s)
        sampler = threading.Thread(target=sample, args=(cpu, samples, WINDOW_S[1] + 0.05))
        clicked = time.monotonic()
        sampler.start()
        cancel.click()
        note = page.get_by_text("You cancelled the redraws.")
        note.wait_for(timeout=NOTE_TIMEOUT_S * 1000)
        shown_after = time.monotonic() - clicked
        sampler.join()
        in_window = [c for t, c in samples if t >= WINDOW_S[0]]
        window_cpu = in_window[-1] - in_window[0]
        page.wait_for_selector(
            "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=30_000
        )
        progress_bars = page.get_by_test_id("stProgress").count()
        cancel_buttons = cancel.count()
        exceptions = page.get_by_test_id("stException").count()
        before = page.evaluate("() => window.__aae.finished")
        page.locator("a[data-testid='stSidebarNavLink'][href$='/data']").click()
        page.wait_for_function(
            load_test.RUN_FINISHED, arg=[before, "Structure or norms?"], timeout=RUN_TIMEOUT_MS
        )
        page.locator(load_test.CHART).first.wait_for(timeout=60_000)
        usable = page.get_by_test_id("stException").count() == 0
        browser.close()
    rate = [
        (round(t1, 1), round((c1 - c0) / (t1 - t0), 2))
        for (t0, c0), (t1, c1) in zip(samples, samples[1:], strict=False)
    ]
    print(
        f"sweep CPU {busy:.2f} CPU-s/s; note after {shown_after:.2f} s; CPU in "
        f"{WINDOW_S} s after the click {window_cpu:.2f} CPU-s; CPU rate after the click {rate}"
    )
    assert busy > 2 * MAX_CPU_S / (WINDOW_S[1] - WINDOW_S[0]), busy  # the sweep was working
    assert window_cpu < MAX_CPU_S, (window_cpu, rate)
    assert progress_bars == 0 and cancel_buttons == 0 and exceptions == 0
    assert usable
