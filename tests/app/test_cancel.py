"""Cancel under AppTest: what the run after a Cancel click shows, and Run bringing work back.

AppTest runs a script to its end, so nothing can be clicked while a sweep runs; the click's
callback is applied as Streamlit applies it, at the start of the next run (the marks it sets in
``st.session_state``). The click itself, the abandoned thread stopping within a second and the
app staying usable are tested in Chromium (tests/browser/test_cancel.py).
"""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import explorer.ui.compute as compute
from explorer.ui.cancel import CANCEL_RUN, RUN, Job, cancelled_mark
from tests.app.conftest import APP

TIMEOUT = 300
SMALL = {"src": "synthetic", "L": "32", "d": "16", "m": "16", "sigma": "0.45"}
FAST = {"sc_m": (4, 16), "sc_seeds": 2, "sc_scale_seeds": 1}


@pytest.fixture
def jobs(monkeypatch) -> dict[str, Job]:
    """The jobs the pages ran, by name (the keys a Cancel click marks)."""
    seen: dict[str, Job] = {}
    original = compute.cancellable

    def cancellable(job, work):
        seen[job.name] = job
        return original(job, work)

    monkeypatch.setattr(compute, "cancellable", cancellable)
    return seen


def click_cancel(at: AppTest, job: Job) -> None:
    """What the Cancel button's callback does at the start of the run its click starts."""
    at.session_state[cancelled_mark(job.name)] = job.key
    at.session_state[CANCEL_RUN] = at.session_state[RUN] + 1


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def test_a_cancelled_sweep_waits_for_run_and_the_rest_of_its_run_computes_nothing(jobs):
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(SMALL)
    for key, value in FAST.items():
        at.session_state[key] = value
    at.switch_page("pages/scaling.py").run()
    assert not at.exception and not at.error
    charts = len(at.get("plotly_chart"))
    assert not [b for b in at.button if b.key.startswith("cancel_")]  # gone once done

    click_cancel(at, jobs["sc_m"])  # cancel the m sweep ...
    at.session_state["sc_scale_seeds"] = 2  # ... while the σ sweep would need new work
    at.run()
    assert not at.exception and not at.error
    assert "You cancelled the m sweep." in infos(at)
    assert any(t.startswith("Not computed: you cancelled") for t in infos(at))  # σ: skipped
    assert len(at.get("plotly_chart")) == charts - 2
    assert at.button(key="run_sc_m") and at.button(key="run_sc_scale")

    at.run()  # any later run computes the skipped sweep; the cancelled one still waits
    assert "You cancelled the m sweep." in infos(at) and len(infos(at)) == 1
    assert len(at.get("plotly_chart")) == charts - 1

    at.button(key="run_sc_m").click().run()  # Run: the m sweep is back
    assert not at.exception and not infos(at)
    assert len(at.get("plotly_chart")) == charts


def test_a_cancelled_job_runs_again_when_its_settings_change(jobs):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(SMALL)
    for key, value in FAST.items():
        at.session_state[key] = value
    at.session_state["err_seeds"] = 2
    at.switch_page("pages/error_distributions.py").run()
    click_cancel(at, jobs["err_seeds"])
    at.run()
    assert "You cancelled the redraws." in infos(at)
    assert "err_seeds_chart" not in [c.key for c in at.get("plotly_chart")]
    at.slider(key="err_seeds").set_value(3).run()  # new settings: a new sweep, not cancelled
    assert not infos(at) and not at.exception
    assert "err_seeds_chart" in [c.key for c in at.get("plotly_chart")]
