"""AppTest set-up: run app.py the way a live server does after its first script run.

Streamlit treats a ``pages/`` folder beside the entry script as a legacy multipage app until
``st.navigation`` is called; a live server then remembers that for the life of the process,
but AppTest resets it before every run and so executes page scripts without app.py. This
fixture keeps the server's steady state: app.py (sidebar and navigation) runs on every rerun.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.pages_manager import PagesManager


def decode(value) -> np.ndarray:
    """A plotly array: plain list, or plotly ≥ 6's base64 typed array (reshaped if 2-D)."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return array.reshape([int(s) for s in str(shape).split(",")]) if shape else array
    return np.asarray(value)


APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(autouse=True)
def navigation_steady_state(monkeypatch):
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
