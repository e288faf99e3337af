"""AppTest helpers: the app's entry script and plotly's array encoding.

No set-up is needed to run app.py the way a live server does: AppTest resets Streamlit's
legacy ``pages/`` flag before every run, so each ``switch_page`` run starts as a page run on
its own, and every page's first line (``ui.run_from_app``) then runs app.py, as it does for a
deep link on a fresh server.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest


def decode(value) -> np.ndarray:
    """A plotly array: plain list, or plotly ≥ 6's base64 typed array (reshaped if 2-D)."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return array.reshape([int(s) for s in str(shape).split(",")]) if shape else array
    return np.asarray(value)


APP = str(Path(__file__).resolve().parents[2] / "app.py")


def shown(markdown: str) -> str:
    """What a markdown element displays, escapes removed (messages escape quoted uploads)."""
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.fixture
def deferred(monkeypatch) -> dict[str, tuple[str, object]]:
    """file id → (file name, callable) of every download button built on click.

    A deferred download runs only when a browser asks for it; AppTest has no browser, so this
    keeps what the app registered, for the test to call as Streamlit's server would.
    """
    from streamlit.runtime.media_file_manager import MediaFileManager

    seen: dict[str, tuple[str, object]] = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        file_id = original(self, data_callable, mimetype, coordinates, file_name, **kwargs)
        seen[file_id] = (file_name, data_callable)
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return seen
