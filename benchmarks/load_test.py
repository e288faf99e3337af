"""Load test: N concurrent sessions against a real ``streamlit run`` on 127.0.0.1.

Usage: ``python benchmarks/load_test.py --sessions 20 --seconds 120 [--client ws] [--hosted]
[--pages data,attention_maps] [--json]``. Exit status 1 when any request failed.

Starts the app exactly as tests/browser/test_smoke.py does (127.0.0.1, a free port, headless,
no file watcher, no usage stats; ``--hosted`` adds the Dockerfile's settings), warms it up with
one session that opens every page once (over the websocket: the warm-up is for the server),
then runs ``--sessions`` concurrent users for ``--seconds``. Every user completes one cycle,
then repeats it until the time is up (requests under way then still finish):

  url     open ``/?fm=<map>&m=<m>`` (a new session, settings from the URL, the real-model sample)
  widget  enter a new feature seed in the sidebar's number input (a fresh computation; the
          overview's caption must then name that seed)
  page    switch page with the sidebar navigation, from the overview to the next of
          ``--pages`` (default: data, attention maps, error distributions, scaling, theory)
  upload  open ``/?src=upload`` (counted as a url request; the "upload a file" message is
          expected there), then upload a small valid .safetensors with q, k, v
          (``inputs.uploads.examples``) and compute on it (the caption must name its shapes)

A request is one action whose script run completed. Its latency runs from the action until the
script has finished (the frontend's ``data-test-script-state="notRunning"``, or the
``script_finished`` message). After every request the page must show no exception box, no
error box other than the expected upload prompt, and a chart (except at that prompt); anything
else, a time-out or a lost connection is an error, as is any traceback in the server's log. The
server's RSS is read (psutil, else /proc/PID/status) after the warm-up (before), every half
second (peak) and after the load (after).

Two clients, the same cycle:

  --client browser (default)  Playwright pages in Debian's Chromium, one browser context (own
      cookies, own Streamlit session) per user in one browser process. Real users: the
      frontend, its upload PUT with the XSRF cookie, clicks on the navigation, typing.
  --client ws  a minimal Streamlit client in Python over the same websocket
      (``/_stcore/stream``): the protobuf messages the frontend sends (rerun with the query
      string, page hash and widget states; file URL request; the upload PUT with the XSRF
      token), and the elements the server sends back are checked the same way. No rendering.

Chromium renders every Plotly chart and re-parses the app's JavaScript on every page load: on a
2-core machine 20 pages spend most of the CPU in the browser, so its latencies measure the
browsers as much as the server. The websocket client puts 20 users on the server for a few
percent of one core. CPU time of the server and of the clients is reported for that reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FEATURE_MAPS = ["positive", "trig", "hyperbolic", "oprf", "relu", "elu_plus_one"]
FEATURE_COUNTS = [16, 32, 64, 128, 256]
PAGES = ("data", "attention_maps", "error_distributions", "scaling", "theory")  # page step
UPLOAD_PROMPT = "upload a .safetensors"  # explorer.ui.data's message before any upload
ACTION_TIMEOUT_S = 180.0
CHART_TIMEOUT_S = 30.0
KINDS = ("url", "widget", "page", "upload")

# -- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(port: int, *extra: str) -> list[str]:
    """``streamlit run app.py`` on 127.0.0.1 as the browser tests start it (plus ``extra``)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app.py"),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        *extra,
    ]


def hosted_env(dockerfile: Path = ROOT / "Dockerfile") -> dict[str, str]:
    """The STREAMLIT_* and EXPLORER_* settings the Dockerfile's ENV instructions set: the
    hosted configuration, to run the same settings locally (address and port excepted: the
    command line of ``server_command`` overrides them)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())  # join continued lines
    env = {}
    for line in text.splitlines():
        if line.strip().startswith("ENV "):
            for item in shlex.split(line.strip()[4:]):
                name, _, value = item.partition("=")
                if name.startswith(("STREAMLIT_", "EXPLORER_")):
                    env[name] = value
    return env


def health(url: str, timeout: float = 5.0) -> str:
    """The body of ``/_stcore/health`` ('ok' when healthy), or the error as text."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as response:
            return response.read().decode(errors="replace")
    except OSError as error:
        return f"error: {error}"


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (psutil when installed, else /proc/PID/status VmRSS)."""
    try:
        import psutil
    except ImportError:
        text = Path(f"/proc/{pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+)\s+kB", text, re.M).group(1)) * 1024
    return psutil.Process(pid).memory_info().rss


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def descendants_cpu_seconds(root: int, exclude: int) -> float:
    """CPU seconds of ``root``'s live descendants (with their reaped children), leaving out
    ``exclude`` and its descendants: this process's Playwright driver and Chromium."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
    total = 0.0
    for pid in parents:
        p = pid
        while p in parents and p not in (root, exclude, 0, 1):
            p = parents[p]
        if p == root and pid != root:
            with contextlib.suppress(OSError, ValueError):
                total += cpu_seconds(pid)
    return total


@dataclass
class Server:
    """A ``streamlit run`` subprocess on 127.0.0.1; its log goes to a temporary file
    (kept when EXPLORER_KEEP_SERVER_LOG is set)."""

    env: dict[str, str] | None = None
    hosted: bool = False  # start with the Dockerfile's settings (``hosted_env``)
    extra_args: tuple[str, ...] = ()
    startup_timeout_s: float = 90.0
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        env = {**os.environ, **(hosted_env() if self.hosted else {}), **(self.env or {})}
        handle, name = tempfile.mkstemp(prefix="streamlit-", suffix=".log")
        self.log_path = Path(name)
        with os.fdopen(handle, "wb") as log:
            self.process = subprocess.Popen(
                server_command(self.port, *self.extra_args),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = self.log()
                self.__exit__(None, None, None)
                raise RuntimeError(f"streamlit exited at start-up:\n{text[-3000:]}")
            if health(self.url, timeout=2) == "ok":
                return self
            time.sleep(0.3)
        self.__exit__(None, None, None)
        raise RuntimeError(f"streamlit was not healthy within {self.startup_timeout_s:.0f} s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log_path and not os.environ.get("EXPLORER_KEEP_SERVER_LOG"):
            self.log_path.unlink(missing_ok=True)

    def log(self) -> str:
        """The server's output so far, without colour codes."""
        text = self.log_path.read_text(errors="replace") if self.log_path else ""
        return re.sub(r"\x1b\[[0-9;]*m", "", text)

    def rss(self) -> int:
        return rss_bytes(self.process.pid)


def tracebacks(log: str) -> list[str]:
    """The exception line of every traceback in a server log, plain or drawn by rich (which
    Streamlit uses to log a script's exception when client.showErrorDetails hides it)."""
    found = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if "Traceback (most recent call last)" in line:
            found.append(
                next((x for x in lines[i + 1 :] if re.match(r"[A-Za-z_][\w.]*(: |$)", x)), "?")
            )
    return found


# -- what every client reports ----------------------------------------------------------------


@dataclass
class Tally:
    """Per-kind latencies (s) of the requests served, and the errors, of all sessions."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: list[str] = field(default_factory=list)


async def measure(tally: Tally, kind: str, session: int, request) -> bool:
    """Await ``request(done)``: it performs one action, waits for its script run, calls
    ``done()`` when the run has finished (else its return ends the latency) and returns the
    problems it saw. Records the latency, or an error; True when served cleanly."""
    start = time.perf_counter()
    end = []

    def done() -> None:
        end.append(time.perf_counter())

    try:
        problems = await asyncio.wait_for(request(done), ACTION_TIMEOUT_S + CHART_TIMEOUT_S + 10)
    except Exception as error:  # time-outs, closed pages and sockets: all count as errors
        problems = [f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:160]}"]
    if problems:
        tally.errors.append(f"session {session} {kind}: {'; '.join(problems)}")
    else:
        tally.latencies[kind].append((end[0] if end else time.perf_counter()) - start)
    return not problems


def problems_of(
    exceptions: int, errors: list[str], charts: int, *, upload_prompt: bool = False
) -> list[str]:
    """What is wrong with a finished run (empty: all fine)."""
    problems = [f"{exceptions} exception box(es)"] if exceptions else []
    if upload_prompt:
        if not any(UPLOAD_PROMPT in e for e in errors):
            problems.append(f"no upload prompt (errors: {errors})")
        errors = [e for e in errors if UPLOAD_PROMPT not in e]
    elif not charts:
        problems.append("no chart")
    return problems + [f"error box: {e[:120]}" for e in errors]


def more(step: int, deadline: float) -> bool:
    """Go on? Every user completes its first cycle, then repeats until the deadline."""
    return step == 0 or time.monotonic() < deadline


def cycle_settings(index: int, step: int, pages=PAGES) -> tuple[str, int, int, str]:
    """(feature map, m, seed, page) of user ``index``'s ``step``-th cycle."""
    return (
        FEATURE_MAPS[(index + step) % len(FEATURE_MAPS)],
        FEATURE_COUNTS[(index + 2 * step) % len(FEATURE_COUNTS)],
        1 + 1000 * index + step,
        pages[(index + step) % len(pages)],
    )


# -- the browser client -----------------------------------------------------------------------

# Counts the app's transitions into data-test-script-state="notRunning" (finished script runs)
# from inside the page, so that a run that starts and ends between two polls is not missed. An
# attribute observer on the whole document also sees an stApp element that React replaces.
RUN_COUNTER = """
(() => {
  const s = (window.__aae = { finished: 0, state: null });
  const read = () => {
    const app = document.querySelector("[data-testid='stApp']");
    const state = app ? app.getAttribute("data-test-script-state") : null;
    if (state === s.state) return;
    if (state === "notRunning") s.finished += 1;
    s.state = state;
  };
  new MutationObserver(read).observe(document, {
    subtree: true, attributes: true, attributeFilter: ["data-test-script-state"],
  });
})();
"""
# A run has finished once the counter passed ``n``, or, for an action whose result names a text,
# once that text shows and the app is idle: React may render a fast run's "running" and
# "notRunning" in one commit, and then no attribute ever changes for the counter to see.
RUN_FINISHED = """
([n, text]) => {
  if (window.__aae && window.__aae.finished > n) return true;
  const app = document.querySelector("[data-testid='stApp']");
  const idle = app && app.getAttribute("data-test-script-state") === "notRunning";
  return Boolean(text && idle && document.body.innerText.includes(text));
}
"""
PAGE_STATE = """
() => ({
  exceptions: document.querySelectorAll("[data-testid='stException']").length,
  errors: [...document.querySelectorAll("[data-testid='stAlertContentError']")]
    .map((e) => e.innerText.trim()),
  charts: document.querySelectorAll("[data-testid='stPlotlyChart']").length,
  connection: document.querySelector("[data-testid='stApp']")
    ?.getAttribute("data-test-connection-state"),
})
"""
CHART = "[data-testid='stPlotlyChart']"


async def launch_browser(playwright):
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )


async def _block(route) -> None:
    """Requests to anything but 127.0.0.1 (the page icon from a font CDN) never leave."""
    await route.abort("blockedbyclient")


async def new_session_page(browser):
    """A page in its own browser context (own cookies: its own Streamlit session)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_S * 1000)  # page loads wait as long as runs
    await context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/])"), _block)
    await context.add_init_script(RUN_COUNTER)
    return await context.new_page()


async def finished_runs(page) -> int:
    return await page.evaluate("() => window.__aae ? window.__aae.finished : 0")


async def page_problems(page, *, upload_prompt: bool = False, expect: str | None = None):
    """What is wrong with the page after its run. Plotly charts mount after the run has
    finished (their code loads lazily), so the chart check waits up to CHART_TIMEOUT_S; the
    measured latency includes that wait only when a chart is missing (an error anyway)."""
    if not upload_prompt:
        with contextlib.suppress(Exception):
            await page.wait_for_selector(CHART, timeout=CHART_TIMEOUT_S * 1000)
    state = await page.evaluate(PAGE_STATE)
    problems = problems_of(
        state["exceptions"], state["errors"], state["charts"], upload_prompt=upload_prompt
    )
    if state["connection"] not in (None, "CONNECTED"):
        problems.append(f"connection {state['connection']}")
    if expect and not await page.evaluate("t => document.body.innerText.includes(t)", expect):
        problems.append(f"no text {expect!r} on the page")
    return problems


def browser_request(page, action, *, new_document: bool = False, **checks):
    """A request for ``measure``: ``action()``, then the next finished run, then the checks.

    The latency stops when the run has finished; the chart check after it is not timed.
    """

    async def request(done) -> list[str]:
        before = 0 if new_document else await finished_runs(page)
        await action()
        try:
            await page.wait_for_function(
                RUN_FINISHED,
                arg=[before, checks.get("expect")],
                polling=50,
                timeout=ACTION_TIMEOUT_S * 1000,
            )
        except Exception as error:
            state = await page.evaluate("() => JSON.stringify(window.__aae)")
            return [f"{type(error).__name__}: no finished run (run counter {state})"]
        done()
        return await page_problems(page, **checks)

    return request


async def timed_browser(tally, kind, session, page, action, **options) -> bool:
    return await measure(tally, kind, session, browser_request(page, action, **options))


async def browser_user(browser, url, pages, index: int, deadline: float, tally: Tally, upload):
    """One user in Chromium: the url → widget → page → upload cycle until the deadline."""
    page = await new_session_page(browser)
    seed_box = page.get_by_test_id("stSidebar").locator("input[aria-label='Feature seed']")
    step = 0
    try:
        while more(step, deadline):
            fm, m, seed, path = cycle_settings(index, step, pages)
            goto = functools.partial(page.goto, f"{url}/?fm={fm}&m={m}")
            ok = await timed_browser(tally, "url", index, page, goto, new_document=True)
            if ok and more(step, deadline):

                async def new_seed(seed=seed):
                    await seed_box.fill(str(seed))
                    await seed_box.press("Enter")

                ok = await timed_browser(
                    tally, "widget", index, page, new_seed, expect=f"seed {seed}."
                )
            if ok and more(step, deadline):
                link = page.locator(f"a[data-testid='stSidebarNavLink'][href$='/{path}']")
                await timed_browser(tally, "page", index, page, link.first.click)
            if upload and more(step, deadline):
                goto = functools.partial(page.goto, f"{url}/?src=upload")
                ok = await timed_browser(
                    tally, "url", index, page, goto, new_document=True, upload_prompt=True
                )
                if ok:
                    name, data = upload
                    dropzone = page.get_by_test_id("stFileUploaderDropzoneInput")
                    files = {"name": name, "mimeType": "application/octet-stream", "buffer": data}
                    choose = functools.partial(dropzone.set_input_files, files)
                    used = upload_caption(data)  # the overview's caption names the tensors
                    await timed_browser(tally, "upload", index, page, choose, expect=used)
            step += 1
    finally:
        await page.context.close()


# -- the websocket client ---------------------------------------------------------------------


@dataclass
class Run:
    """What one script run sent: exception and error elements, charts, texts."""

    exceptions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    charts: int = 0
    texts: list[str] = field(default_factory=list)

    def problems(self, *, upload_prompt: bool = False, expect: str | None = None) -> list[str]:
        problems = problems_of(
            len(self.exceptions), self.errors, self.charts, upload_prompt=upload_prompt
        )
        problems += [f"exception: {e[:160]}" for e in self.exceptions]
        if expect and not any(expect in t for t in self.texts):
            problems.append(f"no text {expect!r} on the page")
        return problems


class StreamlitSocket:
    """A minimal Streamlit client over the app's websocket: what the frontend sends on page
    load, on a widget change, on a page switch and for an upload; no rendering.

    Messages are protobufs (``streamlit.proto``): BackMsg up, ForwardMsg down. A script run
    starts with ``new_session``, sends its elements as ``delta`` messages and ends with
    ``script_finished`` (ignored when it reports FINISHED_EARLY_FOR_RERUN: a newer run
    follows).
    """

    def __init__(self, url: str):
        self.url = url
        self.ws = None
        self.session_id = ""
        self.query = ""
        self.page_hash = ""
        self.pages: dict[str, str] = {}  # url path → page script hash
        self.widgets: dict[str, str] = {}  # label → widget id
        self.responses: dict[str, object] = {}
        self.uploaded = None  # UploadedFileInfo of the last upload

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        ws_url = self.url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.ws = await connect(
            ws_url, subprotocols=["streamlit"], origin=self.url, max_size=None, open_timeout=60
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def send(self, msg) -> None:
        await self.ws.send(msg.SerializeToString())

    async def rerun(self, *, query: str | None = None, page: str | None = None, widgets=()):
        """Ask for a run (query string, page hash, widget states) and wait for its end."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        state = msg.rerun_script
        self.query = self.query if query is None else query
        state.query_string = self.query
        state.page_script_hash = self.page_hash if page is None else page
        state.widget_states.widgets.extend(widgets)
        await self.send(msg)
        return await self.read(until="script_finished")

    async def file_urls(self, names: list[str]):
        """Ask the server where to PUT files (what the uploader does before uploading)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        request_id = uuid.uuid4().hex
        msg.file_urls_request.request_id = request_id
        msg.file_urls_request.file_names.extend(names)
        msg.file_urls_request.session_id = self.session_id
        await self.send(msg)
        while request_id not in self.responses:
            await self.read(until="file_urls_response")
        response = self.responses.pop(request_id)
        if response.error_msg:
            raise RuntimeError(f"file URL request refused: {response.error_msg}")
        return list(response.file_urls)

    async def read(self, *, until: str) -> Run:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        run = Run()
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await self.ws.recv())
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                run = Run()
                self.session_id = msg.new_session.initialize.session_id or self.session_id
            elif kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
                self.page_hash = msg.navigation.page_script_hash
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                self._element(msg.delta.new_element, run)
            elif kind == "file_urls_response":
                self.responses[msg.file_urls_response.response_id] = msg.file_urls_response
            elif kind == "ref_hash":
                raise RuntimeError("the server sent a cached-message reference")
            if kind == until:
                if kind == "script_finished":
                    if msg.script_finished == msg.FINISHED_EARLY_FOR_RERUN:
                        continue
                    if msg.script_finished == msg.FINISHED_WITH_COMPILE_ERROR:
                        run.exceptions.append("compile error")
                return run

    def _element(self, element, run: Run) -> None:
        from streamlit.proto.Alert_pb2 import Alert

        kind = element.WhichOneof("type")
        if kind == "exception":
            run.exceptions.append(f"{element.exception.type}: {element.exception.message}")
        elif kind == "alert":  # markdown too: messages escape the uploads they quote
            (run.errors if element.alert.format == Alert.ERROR else run.texts).append(
                re.sub(r"\\(.)", r"\1", element.alert.body)
            )
        elif kind == "plotly_chart":
            run.charts += 1
        elif kind == "markdown":
            run.texts.append(re.sub(r"\\(.)", r"\1", element.markdown.body))  # unescaped
        elif kind == "text":
            run.texts.append(element.text.body)
        elif kind in ("number_input", "file_uploader"):
            widget = getattr(element, kind)
            self.widgets[widget.label] = widget.id

    def xsrf_token(self) -> str:
        """The ``_streamlit_xsrf`` cookie the server sets (on /_stcore/health, as on pages)."""
        with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=30) as response:
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                if name.strip() == "_streamlit_xsrf":
                    return rest.split(";", 1)[0]
        raise RuntimeError("no _streamlit_xsrf cookie (is XSRF protection off?)")

    def put(self, upload_url: str, name: str, data: bytes) -> None:
        """The uploader's PUT: multipart body, XSRF cookie and header (blocking: a thread)."""
        token = self.xsrf_token()
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        body = head + data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            self.url + upload_url,
            data=body,
            method="PUT",
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "X-Xsrftoken": token,
                "Cookie": f"_streamlit_xsrf={token}",
                "Origin": self.url,
            },
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            if response.status != 204:
                raise RuntimeError(f"upload PUT answered {response.status}")

    async def upload(self, name: str, data: bytes):
        """Upload one file into the sidebar's uploader, then rerun with it as its value."""
        from streamlit.proto.Common_pb2 import UploadedFileInfo

        (urls,) = await self.file_urls([name])
        await asyncio.to_thread(self.put, urls.upload_url, name, data)
        self.uploaded = UploadedFileInfo(
            file_id=urls.file_id, name=name, size=len(data), file_urls=urls
        )
        return await self.rerun(widgets=[self.uploader_state(self.uploaded)])

    def uploader_state(self, *files):
        """The sidebar uploader's widget state listing ``files`` (UploadedFileInfo)."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        state = WidgetState(id=self.widgets["Q/K/V file(s)"])
        state.file_uploader_state_value.uploaded_file_info.extend(files)
        return state


@functools.cache
def upload_caption(data: bytes) -> str:
    """What the overview's caption says about the uploaded q: "'q' (2, 8, 4)"."""
    from safetensors.numpy import load

    return f"'q' {load(data)['q'].shape}"


def seed_state(client: StreamlitSocket, seed: int):
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    return WidgetState(id=client.widgets["Feature seed"], int_value=seed)


async def ws_user(url: str, pages, index: int, deadline: float, tally: Tally, upload) -> None:
    """One user over the websocket: the same cycle as ``browser_user``."""
    step = 0
    while more(step, deadline):
        fm, m, seed, path = cycle_settings(index, step, pages)
        client = StreamlitSocket(url)

        async def load(done, client=client, fm=fm, m=m):
            await client.connect()
            return (await client.rerun(query=f"fm={fm}&m={m}")).problems()

        try:
            ok = await measure(tally, "url", index, load)
            if ok and more(step, deadline):

                async def new_seed(done, client=client, seed=seed):
                    run = await client.rerun(widgets=[seed_state(client, seed)])
                    return run.problems(expect=f"seed {seed}.")  # the overview's caption

                ok = await measure(tally, "widget", index, new_seed)
            if ok and more(step, deadline):

                async def switch(done, client=client, path=path, seed=seed):
                    state = seed_state(client, seed)
                    return (await client.rerun(page=client.pages[path], widgets=[state])).problems()

                await measure(tally, "page", index, switch)
        finally:
            await client.close()
        if upload and more(step, deadline):
            client = StreamlitSocket(url)

            async def prompt(done, client=client):
                await client.connect()
                return (await client.rerun(query="src=upload")).problems(upload_prompt=True)

            async def send_file(done, client=client):
                name, data = upload
                run = await client.upload(name, data)
                return run.problems(expect=upload_caption(data))  # the upload was used

            try:
                if await measure(tally, "url", index, prompt):
                    await measure(tally, "upload", index, send_file)
            finally:
                await client.close()
        step += 1


async def ws_warm_up(url: str, tally: Tally, pages=PAGES) -> None:
    """The overview, then each page once, in one session."""
    client = StreamlitSocket(url)

    async def load(done):
        await client.connect()
        return (await client.rerun(query="")).problems()

    try:
        await measure(tally, "url", -1, load)
        for path in pages:

            async def switch(done, path=path):
                return (await client.rerun(page=client.pages[path])).problems()

            await measure(tally, "page", -1, switch)
    finally:
        await client.close()


# -- the run ----------------------------------------------------------------------------------


async def sample_rss(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            peak[0] = max(peak[0], rss_bytes(pid))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


async def run_load(
    server: Server,
    sessions: int,
    seconds: float,
    *,
    client: str = "browser",
    upload: bool = True,
    pages=PAGES,
) -> dict:
    """Warm up, then ``sessions`` concurrent users for ``seconds``: a JSON-able report.

    ``pages``: the pages (URL paths) the page step visits in turn, every one warmed up first.
    """
    pages = tuple(pages)
    from explorer.inputs.uploads.examples import example_upload

    example = example_upload("safetensors") if upload else None
    pid = server.process.pid
    tally, warm = Tally(), Tally()
    if client not in ("browser", "ws"):
        raise ValueError(f"client must be 'browser' or 'ws', not {client!r}")
    warm_up_s = time.monotonic()
    await ws_warm_up(server.url, warm, pages)  # for the server: imports, sample, shared caches
    warm_up_s = time.monotonic() - warm_up_s
    if warm.errors:
        raise RuntimeError(f"warm-up failed: {warm.errors}")
    async with contextlib.AsyncExitStack() as stack:
        if client == "browser":
            from playwright.async_api import async_playwright

            playwright = await stack.enter_async_context(async_playwright())
            browser = await launch_browser(playwright)
            stack.push_async_callback(browser.close)
            user = functools.partial(browser_user, browser, server.url, pages)
        else:
            user = functools.partial(ws_user, server.url, pages)
        rss_before = rss_bytes(pid)
        peak, stop = [rss_before], asyncio.Event()
        sampler = asyncio.create_task(sample_rss(pid, peak, stop))
        health_before = health(server.url)
        server_cpu, client_cpu = cpu_seconds(pid), descendants_cpu_seconds(os.getpid(), pid)
        own_cpu = time.process_time()
        wall = time.monotonic()
        deadline = wall + seconds
        await asyncio.gather(*(user(i, deadline, tally, example) for i in range(sessions)))
        wall = time.monotonic() - wall
        server_cpu = cpu_seconds(pid) - server_cpu
        client_cpu = descendants_cpu_seconds(os.getpid(), pid) - client_cpu
        client_cpu += time.process_time() - own_cpu
        health_after = health(server.url)
        stop.set()
        await sampler
        rss_after = rss_bytes(pid)
    server_errors = tracebacks(server.log())
    every = [x for kind in KINDS for x in tally.latencies[kind]]
    return {
        "client": client,
        "hosted": server.hosted,
        "pages": list(pages),
        "warm_up_s": round(warm_up_s, 1),
        "sessions": sessions,
        "seconds": seconds,
        "wall_s": round(wall, 1),
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "requests": len(every),
        "requests_per_s": round(len(every) / wall, 2) if wall else None,
        "errors": len(tally.errors) + len(server_errors),
        "error_details": tally.errors + [f"server: {e}" for e in server_errors],
        "latency_s": {
            kind: {
                "n": len(values),
                "p50": percentile(values, 50),
                "p95": percentile(values, 95),
                "max": max(values) if values else None,
            }
            for kind, values in {"all": every, **tally.latencies}.items()
        },
        "cpu_s": {"server": round(server_cpu, 1), "clients": round(client_cpu, 1)},
        "rss_mb": {
            "before": round(rss_before / 2**20, 1),
            "peak": round(peak[0] / 2**20, 1),
            "after": round(rss_after / 2**20, 1),
            "growth": round((rss_after - rss_before) / 2**20, 1),
        },
        "health": {"before": health_before, "after": health_after},
    }


def run_async(coroutine):
    """``asyncio.run`` in a thread of its own: works even where an event loop is running (a
    live Playwright sync API in the same test session, for one)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def table(report: dict) -> str:
    """The report as a plain-text table."""
    rss, cpu = report["rss_mb"], report["cpu_s"]

    def sec(value):
        return "-" if value is None else f"{value:.2f}"

    lines = [
        f"{report['sessions']} {report['client']} sessions for {report['seconds']:g} s"
        f"{' (hosted settings)' if report['hosted'] else ''}; pages: {', '.join(report['pages'])}",
        f"after a {report['warm_up_s']} s warm-up: wall {report['wall_s']} s on {report['cpus']} "
        "CPUs, load average "
        f"{report['load_average_1min']}; CPU s: server {cpu['server']}, clients "
        f"{cpu['clients']}",
        f"requests served {report['requests']} ({report['requests_per_s']}/s), "
        f"errors {report['errors']}, health {report['health']['before']} → "
        f"{report['health']['after']}",
        f"server RSS before {rss['before']} MB, peak {rss['peak']} MB, after {rss['after']} MB "
        f"(growth {rss['growth']:+} MB)",
        "",
        f"{'request':<8} {'n':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}",
    ]
    for kind, row in report["latency_s"].items():
        lines.append(
            f"{kind:<8} {row['n']:>5} {sec(row['p50']):>7} {sec(row['p95']):>7} "
            f"{sec(row['max']):>7}"
        )
    lines += [f"error: {e}" for e in report["error_details"][:20]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=3, help="concurrent users (default 3)")
    parser.add_argument("--seconds", type=float, default=30, help="load duration (default 30)")
    parser.add_argument("--client", choices=["browser", "ws"], default="browser")
    parser.add_argument("--no-upload", action="store_true", help="skip the upload step")
    parser.add_argument(
        "--pages",
        default=",".join(PAGES),
        help=f"pages the page step visits, comma-separated (default {','.join(PAGES)})",
    )
    parser.add_argument(
        "--hosted", action="store_true", help="run the server with the Dockerfile's settings"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.client == "browser" and not Path(CHROMIUM).exists():
        parser.error(f"{CHROMIUM} is missing: apt-get install chromium, or use --client ws")
    if args.sessions < 1 or args.seconds <= 0:
        parser.error("--sessions and --seconds must be positive")
    sys.path.insert(0, str(ROOT))
    with Server(hosted=args.hosted) as server:
        load = run_load(
            server,
            args.sessions,
            args.seconds,
            client=args.client,
            upload=not args.no_upload,
            pages=[p for p in args.pages.split(",") if p],
        )
        report = asyncio.run(load)
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
