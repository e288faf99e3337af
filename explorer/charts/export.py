"""Static images of plotly figures (PNG, SVG, PDF) through kaleido and a system Chromium.

kaleido is optional and needs a Chrome or Chromium binary; neither ships with the project.
``static_export_problem`` says, without launching anything, why an export cannot run here
(or None when it can), so callers show a note instead of failing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Literal

import plotly.graph_objects as go

StaticFormat = Literal["png", "svg", "pdf"]
STATIC_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


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


def static_image(fig: go.Figure, fmt: StaticFormat, *, scale: float = 2.0) -> bytes:
    """The figure as PNG, SVG or PDF bytes (raises RuntimeError when no browser can start)."""
    if fmt not in STATIC_FORMATS:
        raise ValueError(f"unknown image format {fmt!r}: use one of {', '.join(STATIC_FORMATS)}")
    browser = find_browser()
    if browser is not None:
        os.environ.setdefault("BROWSER_PATH", str(browser))
    return fig.to_image(format=fmt, scale=scale)
