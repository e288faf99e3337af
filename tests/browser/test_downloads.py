"""Downloads from a live server in Chromium: images of charts, two sessions at once, and a
hostile capture that stays inert in the page and in its files.

One ``streamlit run`` on 127.0.0.1 for the module. A download is a real click on the chart's
"Download" menu; Streamlit then runs the button's callable in a worker thread, where the
server's one ImageExporter renders the image (its Chromium starts with the first image).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from explorer.charts.export import static_export_problem
from tests.app.test_hostile_text import TOKENS
from tests.browser.test_load import CHROMIUM, load_test_module

RUN_TIMEOUT_MS = 180_000
DOWNLOAD_TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
needs_export = pytest.mark.skipif(
    static_export_problem() is not None, reason=str(static_export_problem())
)


@pytest.fixture(scope="module")
def load_test():
    return load_test_module()


@pytest.fixture(scope="module")
def server(load_test):
    with load_test.Server() as server:
        yield server


@pytest.fixture(scope="module")
def browser(load_test):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=load_test.CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class Visitor:
    """One session: a page in its own context, counting finished runs, noting dialogs."""

    def __init__(self, browser, load_test, server):
        self.lt, self.server = load_test, server
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.route(
            lambda u: not u.startswith(server.url), lambda route: route.abort("blockedbyclient")
        )
        self.context.add_init_script(load_test.RUN_COUNTER)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []  # an alert() run by injected markup would land here
        self.page.on(
            "dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss())
        )

    def open(self, path: str, *, charts: bool = True) -> None:
        self.page.goto(f"{self.server.url}{path}", timeout=RUN_TIMEOUT_MS)
        self.wait(0, charts=charts)

    def wait(self, before: int, text: str | None = None, *, charts: bool = True) -> None:
        self.page.wait_for_function(
            self.lt.RUN_FINISHED, arg=[before, text], polling=50, timeout=RUN_TIMEOUT_MS
        )
        if charts:  # they mount just after the run
            self.page.locator(self.lt.CHART).first.wait_for(timeout=60_000)

    def finished(self) -> int:
        return self.page.evaluate("() => window.__aae.finished")

    def start_download(self, chart: int, label: str):
        """Open the Download menu under chart number ``chart`` and click ``label``."""
        self.page.get_by_test_id("stPopover").nth(chart).locator("button").first.click()
        button = self.page.get_by_role("button", name=label).last
        button.wait_for(timeout=30_000)
        return button

    def download(self, chart: int, label: str) -> bytes:
        button = self.start_download(chart, label)
        with self.page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as info:
            button.click()
        path = info.value.path()
        self.page.keyboard.press("Escape")  # close the menu
        return Path(path).read_bytes()

    def close(self) -> None:
        self.context.close()


@needs_export
def test_png_svg_pdf_and_csv_of_a_chart(browser, load_test, server):
    visitor = Visitor(browser, load_test, server)
    try:
        visitor.open("/?src=synthetic&L=64&d=16")
        start = time.perf_counter()
        png = visitor.download(0, "Figure (PNG)")
        first = time.perf_counter() - start  # includes starting the server's Chromium
        start = time.perf_counter()
        svg = visitor.download(0, "Figure (SVG)").decode()
        again = time.perf_counter() - start
        pdf = visitor.download(0, "Figure (PDF)")
        table = visitor.download(0, "Data (CSV)").decode()
    finally:
        visitor.close()
    print(f"first PNG {first:.2f} s, then SVG {again:.2f} s (click to file)")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and pdf[:5] == b"%PDF-"
    assert "Exact softmax P" in svg and not re.search(r"[µμ]<", svg)  # no SI-prefixed ticks
    assert table.splitlines()[0].startswith("data,feature_map,num_features")


@needs_export
def test_two_sessions_downloading_at_once_each_get_their_own_image(browser, load_test, server):
    a, b = (Visitor(browser, load_test, server) for _ in range(2))
    try:
        a.open("/?src=synthetic&L=64&d=16&sigma=0.3")
        b.open("/attention_maps?src=synthetic&L=32&d=16&sigma=0.9")
        button_a, button_b = (
            a.start_download(0, "Figure (SVG)"),
            b.start_download(0, "Figure (SVG)"),
        )
        with (
            a.page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as got_a,
            b.page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as got_b,
        ):
            button_a.click()
            button_b.click()  # both requests are in flight on the server together
        svg_a = Path(got_a.value.path()).read_text()
        svg_b = Path(got_b.value.path()).read_text()
    finally:
        a.close()
        b.close()
    assert "Head 0" in svg_a and "L = 64" not in svg_a  # the overview's map of session A
    assert "Synthetic" in svg_b and "L = 32" in svg_b  # the attention-maps page of session B


def test_a_hostile_capture_stays_inert_in_chromium(browser, load_test, server):
    from tests.app.test_hostile_text import hostile_upload

    visitor = Visitor(browser, load_test, server)
    page = visitor.page
    try:
        visitor.open("/attention_maps?src=upload", charts=False)  # asks for a file
        before = visitor.finished()
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            {"name": "capture.safetensors", "mimeType": "application/octet-stream",
             "buffer": hostile_upload()}
        )  # fmt: skip
        visitor.wait(before, "Every head at a glance")
        page.get_by_text("<script>alert(1)</script>").first.wait_for(timeout=30_000)
        shown = page.locator("body").inner_text()
        links = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        images = page.eval_on_selector_all("img", "images => images.map(i => i.src)")
        table = visitor.download(0, "Data (CSV)").decode()
        before = visitor.finished()
        page.locator("a[data-testid='stSidebarNavLink'][href$='/data']").click()  # same session
        visitor.wait(before, "What the file says about itself")
        data_page = page.locator("body").inner_text()
    finally:
        visitor.close()
    assert visitor.dialogs == []  # no injected script ever ran
    assert "[click me](javascript:alert(1))" in shown  # the token, shown as typed
    assert not any(link.startswith("javascript") for link in links), links
    assert not any(src.endswith("/x") for src in images), images
    assert "'=HYPERLINK(" in table and ",=HYPERLINK" not in table
    assert TOKENS[0] in data_page and "What the file says about itself" in data_page
