"""The only Streamlit module of the core: shared sidebar, cached core calls, error display.

Pages stay thin: ``settings = ui.settings()`` (read from the sidebar widgets app.py created),
``data = ui.current_data(settings)`` and ``ui.comparison(settings, data)`` → figures from
``explorer.charts``. Cache keys are frozen configs plus a content digest of the inputs
(Streamlit samples large arrays when hashing, so arrays are never hashed themselves).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.capture import load_sample
from explorer.device import available_devices
from explorer.errors import ExplorerError
from explorer.experiment import Comparison, ExperimentConfig, compare, synthetic_inputs
from explorer.feature_maps import FEATURE_MAPS
from explorer.inputs import AttentionInputs
from explorer.projections import PROJECTION_LABELS, PROJECTIONS
from explorer.sweep import sweep

SOURCES = {
    "sample": "Real model: all-MiniLM-L6-v2",
    "synthetic": "Synthetic Gaussian",
    "upload": "Upload Q/K/V",
}
UPLOAD_TYPES = ["safetensors", "npy", "npz", "pt", "pth"]
SEQ_LENS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
FEATURE_COUNTS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]


@dataclass(frozen=True)
class Settings:
    """What the sidebar selected: the data, a layer/head slice and the experiment config."""

    source: str
    layer: int
    head: int | None  # None: all heads
    config: ExperimentConfig


@dataclass(frozen=True, eq=False)
class Data:
    """The inputs a page works on, with a digest that keys every cache."""

    inputs: AttentionInputs | None  # None: synthetic, drawn from the config
    key: str  # content digest or a description of the synthetic draw
    description: str
    num_layers: int = 1
    layout: str = ""


def sidebar() -> None:
    """Create the shared widgets (call once, in app.py, so state survives page switches)."""
    bar = st.sidebar
    bar.header("Data")
    # Bound selectboxes keep plain option names: the URL stores the shown text (?fm=trig).
    source = bar.selectbox("Source", list(SOURCES), key="src", bind="query-params")
    bar.caption(SOURCES[source])
    if source == "sample":
        bar.slider("Layer", 0, 5, 0, key="layer", bind="query-params")
    elif source == "synthetic":
        bar.select_slider("Sequence length L", SEQ_LENS, 256, key="L", bind="query-params")
        bar.selectbox("Head dim d", [8, 16, 32, 64, 128], index=3, key="d", bind="query-params")
        bar.slider(
            "Input scale σ",
            0.05,
            1.5,
            0.35,
            0.05,
            key="sigma",
            bind="query-params",
            help="q, k entries ~ N(0, σ²): larger σ means peakier attention and a larger "
            "|x + y|², the quantity that makes random features fail.",
        )
        bar.number_input("Data seed", 0, 2**31 - 1, 0, key="data_seed", bind="query-params")
    else:
        bar.file_uploader(
            "Q/K/V file(s)",
            type=UPLOAD_TYPES,
            accept_multiple_files=True,
            key="upload",
            help=".safetensors recommended; .npy/.npz without "
            "pickles; .pt/.pth tensors only. One file with q, k (v), or one each.",
        )
        bar.number_input("Layer / batch index", 0, 4095, 0, key="layer")
    heads = {"sample": 12, "synthetic": 1, "upload": 64}[source]
    if source == "synthetic":
        heads = bar.slider("Heads", 1, 8, 1, key="H", bind="query-params")
    bar.selectbox(
        "Head",
        ["all", *range(heads)],
        key="head",
        bind="query-params",
        help="Compare one head, or all heads of the layer at once.",
    )
    bar.header("Approximation")
    name = bar.selectbox("Feature map", list(FEATURE_MAPS), key="fm", bind="query-params")
    fmap = FEATURE_MAPS[name]
    kind = "unbiased estimator of softmax" if fmap.kernel == "unbiased" else "substitute kernel"
    bar.caption(f"{fmap.label}: {kind}")
    bar.select_slider("Random features m", FEATURE_COUNTS, 256, key="m", bind="query-params")
    projection = bar.selectbox("Projection", PROJECTIONS, index=1, key="proj", bind="query-params")
    bar.caption(PROJECTION_LABELS[projection])
    bar.number_input(
        "Feature seed",
        0,
        2**31 - 1,
        0,
        key="seed",
        bind="query-params",
        help="Redraw the random features: the error changes, the data does not.",
    )
    bar.toggle("Causal mask", False, key="causal", bind="query-params")
    with bar.expander("Device and precision"):
        st.selectbox("Device", ["auto", *available_devices()], key="device", bind="query-params")
        st.selectbox(
            "Input dtype",
            ["float32", "float64", "bfloat16", "float16"],
            key="dtype",
            bind="query-params",
            help="Half types are computed with float32 sums.",
        )


def settings() -> Settings:
    """The current sidebar choices as a frozen Settings (validated by ExperimentConfig).

    The sidebar is built by app.py. Streamlit runs a page script on its own only in the very
    first run of a server process that finds a legacy ``pages/`` folder (before app.py's
    ``st.navigation`` switches that off), e.g. for a deep link; the page then builds the
    sidebar itself, so it still shows the whole app.
    """
    if "src" not in st.session_state:
        sidebar()
    state = st.session_state
    head = state.get("head", "all")
    config = ExperimentConfig(
        feature_map=state.get("fm", "positive"),
        num_features=int(state.get("m", 256)),
        projection=state.get("proj", "orthogonal"),
        seed=int(state.get("seed", 0)),
        causal=bool(state.get("causal", False)),
        device=state.get("device", "auto"),
        dtype=state.get("dtype", "float32"),
        seq_len=int(state.get("L", 256)),
        head_dim=int(state.get("d", 64)),
        input_scale=float(state.get("sigma", 0.35)),
        data_seed=int(state.get("data_seed", 0)),
        num_heads=int(state.get("H", 1)) if state.get("src") == "synthetic" else 1,
    )
    return Settings(
        source=state.get("src", "sample"),
        layer=int(state.get("layer", 0)),
        head=None if head == "all" else int(head),
        config=config,
    )


@st.cache_resource
def _sample():
    return load_sample()


def _select_head(inputs: AttentionInputs, head: int | None) -> AttentionInputs:
    if head is None:
        return inputs
    if not 0 <= head < inputs.num_heads:
        raise ExplorerError(f"head {head} does not exist: the data has {inputs.num_heads} heads")
    v = None if inputs.v is None else inputs.v[head : head + 1]
    return replace(
        inputs,
        q=inputs.q[head : head + 1],
        k=inputs.k[head : head + 1],
        v=v,
        name=f"{inputs.name}, head {head}",
    )


def uploaded_files() -> list[tuple[str, bytes]]:
    files = st.session_state.get("upload") or []
    return [(f.name, f.getvalue()) for f in files]


def _digest(files: list[tuple[str, bytes]]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name, data in files:
        h.update(name.encode() + b"\0" + hashlib.blake2b(data).digest())
    return h.hexdigest()


@st.cache_data(max_entries=16, show_spinner="Checking the upload…", scope="session")
def _load_upload(digest: str, layer: int, _files: list[tuple[str, bytes]]):
    from explorer.upload_inputs import load_inputs

    return load_inputs(_files, layer=layer)


def current_data(s: Settings, *, layer: int | None = None) -> Data:
    """The inputs the sidebar selected (``layer`` overrides the sidebar's, for grids)."""
    layer = s.layer if layer is None else layer
    if s.source == "synthetic":
        c = s.config
        # All heads: compare() draws the data itself; one head: slice it here.
        inputs = None if s.head is None else _select_head(synthetic_inputs(c), s.head)
        return Data(
            inputs,
            f"synthetic:{c.seq_len}:{c.head_dim}:{c.num_heads}:{c.input_scale}:"
            f"{c.data_seed}:{s.head}",
            f"Gaussian q, k ~ N(0, {c.input_scale:g}²), L = {c.seq_len}, d = {c.head_dim}, "
            f"{c.num_heads} head(s)",
        )
    if s.source == "sample":
        sample = _sample()
        inputs = _select_head(sample.layer(layer), s.head)
        return Data(
            inputs,
            f"sample:{layer}:{s.head}",
            f"all-MiniLM-L6-v2, layer {layer}: {len(sample.tokens)} tokens",
            num_layers=sample.num_layers,
            layout="layers h l d",
        )
    files = uploaded_files()
    if not files:
        raise ExplorerError(
            "upload a .safetensors (or .npy/.npz/.pt) file with q, k and "
            "optionally v in the sidebar, or pick another source"
        )
    digest = _digest(files)
    loaded = _load_upload(digest, layer, files)
    first_axis = loaded.source_shapes["q"][0] if loaded.layer is not None else 1
    return Data(
        _select_head(loaded.inputs, s.head),
        f"upload:{digest}:{layer}:{s.head}",
        loaded.summary(),
        num_layers=first_axis,
        layout=loaded.layout,
    )


@st.cache_data(max_entries=64, show_spinner="Computing exact and approximate attention…")
def _compare(config: ExperimentConfig, key: str, _inputs: AttentionInputs | None) -> Comparison:
    return compare(config, _inputs)


def comparison(s: Settings, data: Data, **changes) -> Comparison:
    """Cached ``compare`` of the current data under the settings' config (with changes)."""
    return _compare(replace(s.config, **changes), data.key, data.inputs)


@st.cache_data(max_entries=16, show_spinner=False)
def _sweep(
    config: ExperimentConfig, axes: tuple, seeds: tuple, key: str, _inputs: AttentionInputs | None
) -> pd.DataFrame:
    bar = st.progress(0.0, text="Running the sweep…")

    def progress(done: int, total: int, cfg: ExperimentConfig) -> None:
        bar.progress(
            done / total,
            text=f"Run {done}/{total}: {cfg.feature_map}, m = {cfg.num_features}, seed {cfg.seed}",
        )

    table = sweep(config, dict(axes), seeds=seeds, inputs=_inputs, progress=progress)
    bar.empty()
    return table


def sweep_table(s: Settings, data: Data, axes: dict, seeds: range) -> pd.DataFrame:
    """Cached sweep with a progress bar; axes values are tuples so the key is hashable."""
    frozen = tuple((name, tuple(values)) for name, values in axes.items())
    return _sweep(s.config, frozen, tuple(seeds), data.key, data.inputs)


@contextmanager
def errors_as_messages() -> Iterator[None]:
    """Show bad input as a message, not a traceback; the rest of the page keeps running."""
    try:
        yield
    except ExplorerError as error:
        st.error(str(error), icon=":material/error:")
        st.stop()
    except ValueError as error:  # invalid settings from the core's validation
        st.error(f"These settings cannot run: {error}", icon=":material/error:")
        st.stop()
    except MemoryError:
        st.error("Out of memory: lower L, m or the number of heads.", icon=":material/error:")
        st.stop()


def downloads(fig: go.Figure, table: pd.DataFrame, name: str) -> None:
    """CSV of the shown data and a self-contained HTML of the figure (built on click)."""
    left, right = st.columns(2)
    left.download_button(
        "Data (CSV)",
        table.to_csv(index=False),
        f"{name}.csv",
        "text/csv",
        key=f"csv_{name}",
        on_click="ignore",
        icon=":material/download:",
    )
    right.download_button(
        "Figure (HTML)",
        lambda: fig.to_html(include_plotlyjs=True),
        f"{name}.html",
        "text/html",
        key=f"html_{name}",
        on_click="ignore",
        icon=":material/download:",
    )


def chart(fig: go.Figure, key: str) -> None:
    st.plotly_chart(
        fig,
        key=key,
        width="stretch",
        config={"toImageButtonOptions": {"format": "png", "scale": 2}},
    )


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a metric, or an explanation instead of NaN/None."""
    if value is None:
        return "needs V"
    if value != value or value in (float("inf"), float("-inf")):
        return "undefined"
    return f"{value:.{digits}g}"


@st.cache_data(max_entries=32, show_spinner="Evaluating the closed-form prediction…")
def _prediction(config: ExperimentConfig, key: str, _inputs: AttentionInputs | None):
    from explorer.predict import predict_output_error

    return predict_output_error(config, _inputs)


def prediction(s: Settings, data: Data, **changes):
    """Cached delta-method prediction of the output error (positive features), or None."""
    return _prediction(replace(s.config, **changes), data.key, data.inputs)
