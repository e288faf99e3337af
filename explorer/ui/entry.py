"""The guard every page script calls first, so a page never runs without app.py.

Streamlit 1.67 decides once per server process whether the entry script is a legacy multipage
app: the first session to start sets ``PagesManager.uses_pages_directory`` (a class attribute,
shared by every session) to whether a ``pages/`` folder sits beside ``app.py``; it is. In that
mode a run does not execute app.py at all: Streamlit lists ``pages/*.py`` itself and runs the
requested page alone. Only ``st.navigation`` switches the mode off, for the whole process. So
when a fresh server's first request is a deep link (``/attention_maps?src=upload``), the page
runs without the sidebar, the page config or the real navigation, and so does every visitor's
page until someone opens ``/``. AppTest resets the attribute before every run, so there every
``switch_page`` run is such a first run.

``run_from_app`` does what Streamlit itself does for ``/`` in that mode: it runs app.py in
place, inside this same script run. app.py's ``st.navigation`` ends the legacy mode, resolves
the same page (the URL's page and query string are kept) and runs it with the shared sidebar;
then the outer, legacy run of the page stops. It is the same run, so widget triggers such as
a button click are kept (a ``st.rerun`` would lose them). In every later run the attribute is
False and the guard is one attribute read.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st


def run_from_app() -> None:
    """Call first in every page script: a page run on its own runs app.py instead."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    # getattr: should a later Streamlit drop the attribute, the guard turns into a no-op
    # (and the AppTest page tests, which run every page through it, would show the change).
    if not getattr(PagesManager, "uses_pages_directory", False):
        return
    ctx = get_script_run_ctx()
    app = Path(ctx.main_script_path) if ctx is not None else _app_beside_the_package()
    code = compile(app.read_bytes(), str(app), "exec")
    exec(code, {"__name__": "__main__", "__file__": str(app)})  # noqa: S102
    st.stop()  # the page has just run inside app.py's navigation


def _app_beside_the_package() -> Path:
    return Path(__file__).resolve().parents[2] / "app.py"
