"""A deep link as a fresh server's first request: the whole app, with the URL's settings.

Streamlit decides once per process, at its first session, whether app.py is a legacy
``pages/`` app (see ``explorer/ui/entry.py``); so each case starts its own ``streamlit run``
(``benchmarks/load_test.py``'s Server, on 127.0.0.1) and its first request is the deep link,
with query parameters. The page must show the shared sidebar with those settings applied, the
real navigation (the pages' titles, no "app" entry), the app's tab title, its charts and no
exception; a second visitor then opens ``/`` and gets the same app.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.test_load import CHROMIUM, load_test_module

NAVIGATION = [
    "Overview",
    "Data",
    "Attention maps",
    "Error distributions",
    "Scaling",
    "Theory",
    "Model report",
    "In the model",
]
QUERY = "src=synthetic&L=64&d=16&fm=trig&m=32"  # small synthetic data, trig features
CASES = {  # URL path → the page's title (its h1)
    "data": "Data",
    "attention_maps": "Attention maps",
    "error_distributions": "Error distributions",
    "scaling": "Scaling",
    "model_report": "Model report",
    "theory": "Theory",
    "in_the_model": "In the model",
}
RUN_TIMEOUT_MS = 180_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="module")
def load_test():
    return load_test_module()


@pytest.fixture(scope="module")
def browser(load_test):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=load_test.CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def visit(browser, load_test, server, path: str, *, title: str) -> dict:
    """Open ``path`` in a new context; once its first run has finished, what the app shows."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route(  # nothing but the server (the page icon's font CDN) is reached
        lambda u: not u.startswith(server.url), lambda route: route.abort("blockedbyclient")
    )
    context.add_init_script(load_test.RUN_COUNTER)
    page = context.new_page()
    try:
        page.goto(f"{server.url}{path}", timeout=RUN_TIMEOUT_MS)
        page.wait_for_function(
            load_test.RUN_FINISHED, arg=[0, None], polling=50, timeout=RUN_TIMEOUT_MS
        )
        page.locator("h1", has_text=title).first.wait_for(timeout=RUN_TIMEOUT_MS)
        page.locator(load_test.CHART).first.wait_for(timeout=60_000)
        sidebar = page.get_by_test_id("stSidebar")
        # Under load the sidebar's last widgets can arrive after the first chart: wait for the
        # last one (a missing sidebar still fails, by this timeout).
        sidebar.get_by_text("Feature seed").first.wait_for(timeout=60_000)
        return {
            "tab": page.title(),
            "h1": page.locator("h1").all_inner_texts(),
            "navigation": [  # each link's last line: its icon's ligature name comes first
                text.strip().splitlines()[-1]
                for text in page.get_by_test_id("stSidebarNavLink").all_inner_texts()
            ],
            "sidebar": sidebar.inner_text(),
            "exceptions": page.get_by_test_id("stException").count(),
        }
    finally:
        context.close()


@pytest.mark.parametrize("path", list(CASES))
def test_a_deep_link_as_the_first_request_shows_the_whole_app(browser, load_test, path):
    with load_test.Server() as server:  # a fresh process: its first request is this one
        seen = visit(browser, load_test, server, f"/{path}?{QUERY}", title=CASES[path])
        again = visit(browser, load_test, server, "/", title="Attention Approximation")
    for shown in (seen, again):
        assert shown["navigation"] == NAVIGATION, shown
        assert "Attention Approximation Explorer" in shown["tab"], shown  # app.py's page config
        assert shown["exceptions"] == 0, shown
        assert "Feature map" in shown["sidebar"] and "Feature seed" in shown["sidebar"], shown
    assert seen["h1"] == [CASES[path]], seen
    assert "Trigonometric (sin/cos)" in seen["sidebar"], seen  # fm=trig from the URL
    assert "Input scale σ" in seen["sidebar"], seen  # src=synthetic from the URL
