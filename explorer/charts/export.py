"""Static images of plotly figures (PNG, SVG, PDF) through kaleido and a system Chromium.

kaleido is optional and needs a Chrome or Chromium binary; neither ships with the project.
``static_export_problem`` says, without launching anything, why an export cannot run here
(or None when it can), so callers show a note instead of failing.

``ImageExporter`` keeps one headless browser for many images: starting Chromium costs 2-4 s,
an image from a running one 0.2-0.4 s (2 CPU cores). It is safe to share between threads,
which kaleido's own shared server is not: ``kaleido.start_sync_server`` puts every caller's
figure on one queue and hands back whichever result comes next, so under concurrent calls
images went to the wrong caller. Here the browser runs on a private event loop and each call
waits on its own future.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import os
import shutil
import threading
from pathlib import Path
from typing import Literal

import plotly.graph_objects as go

StaticFormat = Literal["png", "svg", "pdf"]
STATIC_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
MIME_TYPES = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
WIDTH, HEIGHT = 1000, 500  # layout pixels when a figure sets none (scale 2: a 2000 px PNG)


def find_browser() -> Path | None:
    """The browser kaleido would use: $BROWSER_PATH, else a Chromium/Chrome on the PATH."""
    given = os.environ.get("BROWSER_PATH")
    if given:
        return Path(given) if Path(given).is_file() else None
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def static_export_problem() -> str | None:
    """Why PNG/SVG/PDF export is unavailable here, or None when it should work."""
    if importlib.util.find_spec("kaleido") is None:
        return "static images need the kaleido package (pip install kaleido)"
    if find_browser() is None:
        return (
            "static images need Chromium or Chrome (e.g. apt-get install chromium, or set "
            "BROWSER_PATH)"
        )
    return None


class ImageExporter:
    """One headless Chromium, started on the first image, shared by every calling thread.

    Use it as a context manager, or call ``close``; a failed image closes the browser, and
    the next one starts a fresh browser. Raises RuntimeError (with ``static_export_problem``'s
    reason) where no browser or no kaleido is available.
    """

    def __init__(self, *, timeout_s: float = 60.0) -> None:
        self._timeout_s = timeout_s
        self._lock = threading.Lock()  # guards start and close, not the images themselves
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido = None

    def __enter__(self) -> ImageExporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def image(self, fig: go.Figure, fmt: StaticFormat, *, scale: float = 2.0) -> bytes:
        """The figure as PNG, SVG or PDF bytes, at its layout's size (else WIDTH × HEIGHT)."""
        if fmt not in STATIC_FORMATS:
            raise ValueError(
                f"unknown image format {fmt!r}: use one of {', '.join(STATIC_FORMATS)}"
            )
        spec = fig.to_dict()
        layout = spec.get("layout", {})
        options = {
            "format": fmt,
            "width": layout.get("width") or WIDTH,
            "height": layout.get("height") or HEIGHT,
            "scale": scale,
        }
        kaleido, loop = self._started()
        future = asyncio.run_coroutine_threadsafe(kaleido.calc_fig(spec, opts=options), loop)
        try:
            return future.result(self._timeout_s)
        except Exception as error:
            future.cancel()
            self.close()  # a browser that failed once is not trusted with the next image
            raise RuntimeError(f"the {fmt.upper()} export failed: {error}") from error

    def close(self) -> None:
        """Stop the browser and its event loop (the next image starts them again)."""
        with self._lock:
            kaleido, loop, thread = self._kaleido, self._loop, self._thread
            self._kaleido = self._loop = self._thread = None
        if loop is None:
            return
        if kaleido is not None:
            # closing a broken browser can fail too: then there is nothing left to do
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(kaleido.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _started(self):
        with self._lock:
            if self._kaleido is None:
                problem = static_export_problem()
                if problem:
                    raise RuntimeError(problem)
                import kaleido

                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="kaleido", daemon=True)
                thread.start()

                async def start():
                    browser = kaleido.Kaleido(
                        n=1, timeout=self._timeout_s, mathjax=False, path=str(find_browser())
                    )  # mathjax=False: no LaTeX in these charts, and no CDN request
                    await browser.open()
                    return browser

                try:
                    started = asyncio.run_coroutine_threadsafe(start(), loop)
                    self._kaleido = started.result(self._timeout_s)
                except Exception as error:
                    loop.call_soon_threadsafe(loop.stop)
                    raise RuntimeError(f"Chromium did not start for the export: {error}") from error
                self._loop, self._thread = loop, thread
                atexit.register(self.close)  # no browser outlives the process
            return self._kaleido, self._loop


def static_image(fig: go.Figure, fmt: StaticFormat, *, scale: float = 2.0) -> bytes:
    """One image with a browser of its own (for many, keep an ``ImageExporter``)."""
    with ImageExporter() as exporter:
        return exporter.image(fig, fmt, scale=scale)
