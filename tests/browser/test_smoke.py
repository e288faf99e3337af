"""Browser smoke test: `streamlit run` on 127.0.0.1, driven by Playwright in Debian's Chromium.

Opens every page, waits for the script to finish, finds the charts and no exception box, and
saves a screenshot per page (to $EXPLORER_SCREENSHOTS, default a temporary folder).
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "overview": "",
    "data": "data",
    "attention_maps": "attention_maps",
    "error_distributions": "error_distributions",
    "scaling": "scaling",
    "theory": "theory",
    "model_report": "model_report",
    "in_the_model": "in_the_model",
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="module")
def server():
    from tests.browser.test_load import load_test_module

    load_test = load_test_module()  # one way to start the server, shared with the load test
    port = load_test.free_port()
    command = load_test.server_command(port)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("streamlit did not become healthy in 90 s")
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def wait_for_script(page, timeout_ms: int = 180_000) -> None:
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms
    )


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_charts_without_exception(server, browser, name, tmp_path_factory):
    shots = Path(os.environ.get("EXPLORER_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/{PAGES[name]}")
    wait_for_script(page)
    charts = page.get_by_test_id("stPlotlyChart")
    charts.first.locator(".js-plotly-plot").wait_for(timeout=60_000)
    assert charts.count() >= 1
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stSidebar").get_by_text("Feature map").count() >= 1
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    page.close()


def test_url_reproduces_a_view(server, browser):
    page = browser.new_page()
    page.goto(f"{server}/?fm=trig&m=64")
    wait_for_script(page)
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_by_text("Trigonometric (sin/cos)").count() >= 1
    page.close()
