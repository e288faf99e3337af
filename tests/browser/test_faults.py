"""Faults and hostile requests in one session leave the others working, and the server healthy.

One server for the module, with the Dockerfile's hosted settings (``hosted_env``: e.g.
client.showErrorDetails="type", 64 MB uploads, allowed hosts localhost and 127.0.0.1),
``tests/browser/fault_injection`` on PYTHONPATH and EXPLORER_FAULT_INJECTION=1. Its
``sitecustomize`` wraps the ``compare`` that ``explorer.ui.compute`` calls so that a feature seed
of 4242 fails with a real MemoryError (numpy cannot allocate 256 TiB), 4243 with torch's own
allocation failure (a RuntimeError from its CPU allocator) and 4244 with a plain RuntimeError;
product code is unchanged. Only one computation may run at a time (EXPLORER_MAX_CONCURRENT=1)
and a request waits at most 30 s for it, so a compute slot that a fault failed to release would
turn the next computation into a "server stayed busy" error instead of passing unnoticed.

- Faults: for each one, session B opens the faulty URL while session A computes something new.
  B shows the failure (a message, or Streamlit's exception box without message or traceback),
  A shows its charts and no error, ``/_stcore/health`` (polled every 0.2 s throughout) never
  answers anything but "ok", and in the end B itself computes again.
- Hosted settings: a websocket with a foreign Host header, an upload over 64 MB and an upload
  without the XSRF token are refused.
- Isolation: an upload is seen only by its own session, even by a session that names its file
  id (websocket clients from ``benchmarks/load_test.py``).
"""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import threading
from pathlib import Path

import pytest

from tests.browser.test_load import CHROMIUM, load_test_module

ROOT = Path(__file__).resolve().parents[2]
FAULT_DIR = ROOT / "tests" / "browser" / "fault_injection"
FAULTS = {4242: "MemoryError", 4243: "torch allocation failure", 4244: "RuntimeError"}
OUT_OF_MEMORY = "Out of memory"  # explorer.ui.widgets.errors_as_messages' message
RUN_TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


class HealthWatch(threading.Thread):
    """Polls /_stcore/health until stopped; keeps every answer that was not 'ok'."""

    def __init__(self, url: str, health):
        super().__init__(daemon=True)
        self.url, self.health = url, health
        self.stopped = threading.Event()
        self.polls, self.bad = 0, []

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            answer = self.health(self.url, timeout=10)
            self.polls += 1
            if answer != "ok":
                self.bad.append(answer)


@pytest.fixture(scope="module")
def load_test():
    return load_test_module()


@pytest.fixture(scope="module")
def server(load_test):
    path = os.pathsep.join(filter(None, [str(FAULT_DIR), os.environ.get("PYTHONPATH")]))
    env = {
        "PYTHONPATH": path,
        "EXPLORER_FAULT_INJECTION": "1",
        "EXPLORER_MAX_CONCURRENT": "1",
        "EXPLORER_SWEEP_TIMEOUT_S": "30",
    }
    with load_test.Server(env=env, hosted=True) as server:
        yield server


@pytest.fixture(scope="module")
def browser(load_test):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=load_test.CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class Session:
    """One user: a page in its own browser context that counts finished script runs."""

    def __init__(self, browser, load_test, url: str):
        self.lt, self.url = load_test, url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.route(
            lambda u: not u.startswith(url), lambda route: route.abort("blockedbyclient")
        )
        self.context.add_init_script(load_test.RUN_COUNTER)
        self.page = self.context.new_page()
        self.before, self.expect = 0, None

    def open(self, query: str) -> None:
        """Start loading a URL (its script keeps running on the server)."""
        self.before, self.expect = 0, None
        self.page.goto(f"{self.url}/?{query}", timeout=RUN_TIMEOUT_MS)

    def type_seed(self, seed: int) -> None:
        """Enter a feature seed in the sidebar (starts a rerun that names the seed)."""
        self.before = self.page.evaluate("() => window.__aae.finished")
        self.expect = f"seed {seed}."  # the overview caption
        box = self.page.get_by_test_id("stSidebar").locator("input[aria-label='Feature seed']")
        box.fill(str(seed))
        box.press("Enter")

    def wait(self) -> dict:
        """Until the run started by the last action has finished; what the page shows."""
        self.page.wait_for_function(
            self.lt.RUN_FINISHED,
            arg=[self.before, self.expect],
            polling=50,
            timeout=RUN_TIMEOUT_MS,
        )
        return self.page.evaluate(self.lt.PAGE_STATE)

    def wait_for_charts(self) -> dict:
        """Finished run with its charts drawn (they mount just after the run ends)."""
        self.wait()
        self.page.locator(self.lt.CHART).first.wait_for(timeout=30_000)
        return self.page.evaluate(self.lt.PAGE_STATE)

    def exception_text(self) -> str:
        boxes = self.page.get_by_test_id("stException")
        return boxes.first.inner_text()[:300] if boxes.count() else ""


def assert_working(state: dict) -> None:
    assert state["exceptions"] == 0 and state["errors"] == [], state
    assert state["charts"] >= 1, state


def test_a_failing_computation_leaves_other_sessions_and_the_server_working(
    server, browser, load_test
):
    watch = HealthWatch(server.url, load_test.health)
    watch.start()
    healthy = Session(browser, load_test, server.url)
    faulty = Session(browser, load_test, server.url)
    seen = {}
    try:
        healthy.open("seed=1")
        assert_working(healthy.wait_for_charts())
        assert "fault injection: explorer.ui.compute.compare wrapped" in server.log()
        for step, (seed, fault) in enumerate(FAULTS.items()):
            faulty.open(f"seed={seed}")  # fails while the other session computes
            healthy.type_seed(100 + step)
            shown = faulty.wait()
            assert_working(healthy.wait_for_charts())
            seen[fault] = {
                "errors": shown["errors"],
                "exception": faulty.exception_text(),
                "charts": shown["charts"],
            }
            assert shown["errors"] or shown["exceptions"], f"{fault} showed nothing: {shown}"
            assert shown["charts"] == 0, f"{fault}: the page went on as if nothing failed"
        print(seen)  # the observations (pytest -s)
        assert any(OUT_OF_MEMORY in e for e in seen["MemoryError"]["errors"])
        assert not seen["MemoryError"]["exception"]  # a message, not a traceback
        # The hosted client.showErrorDetails="type": the exception's type, no message, no
        # traceback (no paths, no code) in the browser; the details go to the server's log.
        for fault in ("RuntimeError", "torch allocation failure"):
            text = seen[fault]["exception"] or " ".join(seen[fault]["errors"])
            assert "RuntimeError" in text or OUT_OF_MEMORY in text, text
            for secret in ("injected fault", "alloc_cpu", "Traceback", ".py"):
                assert secret not in text, f"{fault}: {secret!r} shown to the user: {text}"
        logged = load_test.tracebacks(server.log())
        assert logged and all(line.startswith("RuntimeError: ") for line in logged), logged
        assert any("injected fault (seed 4244)" in line for line in logged), logged
        faulty.type_seed(7)  # the failed session itself computes again
        assert_working(faulty.wait_for_charts())
        healthy.type_seed(8)
        assert_working(healthy.wait_for_charts())
    finally:
        watch.stopped.set()
        watch.join()
        healthy.context.close()
        faulty.context.close()
    assert watch.polls >= 10 and not watch.bad, (watch.polls, watch.bad)
    assert server.process.poll() is None, "the server process died"
    assert load_test.health(server.url) == "ok"


async def _websocket_answer(port: int, host: str) -> str:
    """Open the app's websocket on 127.0.0.1 with ``host`` as Host and Origin header."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    sock = socket.create_connection(("127.0.0.1", port))  # never resolves ``host``
    try:
        async with connect(
            f"ws://{host}:{port}/_stcore/stream",
            sock=sock,
            subprotocols=["streamlit"],
            origin=f"http://{host}:{port}",
            open_timeout=30,
        ):
            return "accepted"
    except InvalidStatus as error:
        return f"refused {error.response.status_code}"


def _put_status(port: int, path: str, length: int, token: str | None) -> int:
    """Status of an upload PUT that announces ``length`` bytes (sends only the headers)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("PUT", path)
        connection.putheader("Content-Type", "multipart/form-data; boundary=x")
        connection.putheader("Content-Length", str(length))
        if token:
            connection.putheader("X-Xsrftoken", token)
            connection.putheader("Cookie", f"_streamlit_xsrf={token}")
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_hosted_settings_refuse_foreign_hosts_big_uploads_and_forged_puts(server, load_test):
    """The Dockerfile's server.allowedHosts, maxUploadSize (64 MB) and XSRF settings, live."""
    port = server.port
    assert load_test.run_async(_websocket_answer(port, "127.0.0.1")) == "accepted"
    assert load_test.run_async(_websocket_answer(port, "attacker.example")) == "refused 403"

    async def put_statuses() -> tuple[int, int]:
        client = load_test.StreamlitSocket(server.url)
        await client.connect()  # the upload URL is valid while its session is connected
        try:
            await client.rerun(query="src=upload")
            (urls,) = await client.file_urls(["big.safetensors"])
            token = await asyncio.to_thread(client.xsrf_token)
            big = await asyncio.to_thread(_put_status, port, urls.upload_url, 64 * 2**20 + 1, token)
            forged = await asyncio.to_thread(_put_status, port, urls.upload_url, 1000, None)
            return big, forged
        finally:
            await client.close()

    big, forged = load_test.run_async(put_statuses())
    assert big == 413  # over 64 MB (server.maxUploadSize): refused before the body is read
    assert forged == 403  # no XSRF token


def test_an_upload_is_seen_only_by_its_session(server, load_test):
    """Session A uploads a file; session B neither sees it nor gets it by naming its file id."""
    from explorer.inputs.uploads.examples import example_upload

    name, data = example_upload("safetensors")
    caption = load_test.upload_caption(data)  # "'q' (2, 8, 4)" in the overview's caption

    async def scenario():
        a = load_test.StreamlitSocket(server.url)
        b = load_test.StreamlitSocket(server.url)
        await a.connect()
        await b.connect()
        try:
            await a.rerun(query="src=upload")
            used = await a.upload(name, data)
            seen = await b.rerun(query="src=upload")
            forged = await b.rerun(widgets=[b.uploader_state(a.uploaded)])  # A's file id
            return used, seen, forged
        finally:
            await a.close()
            await b.close()

    used, seen, forged = load_test.run_async(scenario())
    assert used.problems(expect=caption) == []  # A computes on its upload
    for run in (seen, forged):  # B never gets A's data
        assert run.charts == 0 and not any(caption in text for text in run.texts)
    assert seen.problems(upload_prompt=True) == []  # B is asked for a file
    # A forged file id becomes a DeletedFile placeholder in st.session_state["upload"]:
    # explorer.ui.data.uploaded_files skips it, so B is simply asked for a file.
    assert forged.problems(upload_prompt=True) == []
