"""One source of truth: the sidebar's defaults and choices are the config's and registries'."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from explorer.device import DTYPES
from explorer.experiments.config import DEFAULTS
from explorer.inputs.synthetic import SYNTHETIC_KINDS
from explorer.kernels.feature_maps import FEATURE_MAPS
from explorer.kernels.projections import PROJECTIONS
from tests.app.conftest import APP


def test_sidebar_defaults_and_choices_are_the_configs():
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["src"] = "synthetic"
    at.run()
    assert not at.exception
    side = at.sidebar
    assert side.selectbox(key="fm").value == DEFAULTS.feature_map
    assert side.selectbox(key="fm").options == list(FEATURE_MAPS)
    assert side.selectbox(key="proj").value == DEFAULTS.projection
    assert side.selectbox(key="proj").options == list(PROJECTIONS)
    assert side.select_slider(key="m").value == DEFAULTS.num_features
    assert side.select_slider(key="L").value == DEFAULTS.seq_len
    assert side.selectbox(key="d").value == DEFAULTS.head_dim
    assert side.slider(key="sigma").value == DEFAULTS.input_scale
    assert side.selectbox(key="kind").options == list(SYNTHETIC_KINDS)
    assert side.selectbox(key="dtype").options == list(DTYPES)
    assert side.selectbox(key="dtype").value == DEFAULTS.dtype
    assert at.session_state["seed"] == DEFAULTS.seed
    assert at.session_state["data_seed"] == DEFAULTS.data_seed
    # What the pages receive: the overview's comparison runs on the config's defaults.
    d = DEFAULTS
    expected = (
        f"{d.feature_map} features, m = {d.num_features}, {d.projection} projection, seed {d.seed}"
    )
    assert any(expected in caption.value for caption in at.caption)
