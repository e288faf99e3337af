"""The shared sidebar: widgets bound to the URL, read back as a frozen Settings."""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from explorer.device import DTYPES, available_devices
from explorer.experiments.config import DEFAULTS, ExperimentConfig
from explorer.inputs.models import MINILM, MODELS_ENV, ModelError, host_models, model_shape
from explorer.inputs.synthetic import SYNTHETIC_KINDS, SYNTHETIC_LABELS
from explorer.inputs.uploads.decode import EXTENSIONS
from explorer.kernels.estimates import estimated_kernel
from explorer.kernels.feature_maps import FEATURE_MAPS
from explorer.kernels.projections import PROJECTION_LABELS, PROJECTIONS

SOURCES = {
    "sample": "Real model: all-MiniLM-L6-v2",
    "text": "Your text through a model on this server (live capture)",
    "synthetic": "Synthetic: Gaussian, aligned, clustered or low-rank Q/K",
    "upload": "Upload Q/K/V",
}
DEFAULT_TEXT = "The animal didn't cross the street because it was too tired."
UPLOAD_TYPES = [extension.lstrip(".") for extension in EXTENSIONS]
SEQ_LENS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
HEAD_DIMS = [8, 16, 32, 64, 128]
CAUSAL_CHOICES = {"auto": DEFAULTS.causal, "on": True, "off": False}  # auto: the data's own
FEATURE_COUNTS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What the sidebar selected: the data, a layer/head slice and the experiment config."""

    source: str
    layer: int
    head: int | None  # None: all heads
    config: ExperimentConfig
    matched: bool = False  # real data replaced by random directions with its row norms


def _model_choice(bar) -> tuple[int, int]:
    """The host's models (``EXPLORER_MODELS``, MiniLM first): a choice, never a typed path."""
    try:
        models = host_models()
    except ModelError as error:
        bar.error(str(error))
        models = {MINILM: MINILM}
    name = bar.selectbox(
        "Model",
        list(models),
        key="model",
        bind="query-params",
        help="minilm: the bundled all-MiniLM-L6-v2; others: listed by this server's host "
        f"({MODELS_ENV}).",
    )
    try:
        return model_shape(models.get(name, MINILM))
    except ModelError as error:
        bar.error(str(error))
        return 1, 1


def sidebar() -> None:
    """Create the shared widgets (call once, in app.py, so state survives page switches)."""
    bar = st.sidebar
    bar.header("Data")
    # Bound selectboxes keep plain option names: the URL stores the shown text (?fm=trig).
    source = bar.selectbox("Source", list(SOURCES), key="src", bind="query-params")
    bar.caption(SOURCES[source])
    layers, heads = 6, 12  # the shipped sample's
    if source in ("sample", "text"):
        if source == "text":
            layers, heads = _model_choice(bar)
            bar.text_area(
                "Text",
                DEFAULT_TEXT,
                key="text",
                max_chars=2000,
                help="Run through the model on this server; needs the optional "
                "model packages (requirements-model.txt).",
            )
        bar.slider("Layer", 0, layers - 1, 0, key="layer", bind="query-params")
    elif source == "synthetic":
        bar.select_slider(
            "Sequence length L", SEQ_LENS, DEFAULTS.seq_len, key="L", bind="query-params"
        )
        bar.selectbox(
            "Head dim d",
            HEAD_DIMS,
            index=HEAD_DIMS.index(DEFAULTS.head_dim),
            key="d",
            bind="query-params",
        )
        bar.slider(
            "Input scale σ",
            0.05,
            1.5,
            DEFAULTS.input_scale,
            0.05,
            key="sigma",
            bind="query-params",
            help="q, k entries ~ N(0, σ²): larger σ means peakier attention and a larger "
            "|x + y|², the quantity that makes random features fail.",
        )
        kind = bar.selectbox(
            "Generator",
            SYNTHETIC_KINDS,
            index=SYNTHETIC_KINDS.index(DEFAULTS.data_kind),
            key="kind",
            bind="query-params",
        )
        bar.caption(SYNTHETIC_LABELS[kind])
        if kind == "aligned":
            bar.slider(
                "Alignment a", 0.0, 1.0, DEFAULTS.alignment, 0.05, key="align", bind="query-params"
            )
        elif kind == "clustered":
            bar.slider(
                "Clusters", 1, 16, DEFAULTS.num_clusters, key="clusters", bind="query-params"
            )
        elif kind == "low_rank":
            bar.slider("Rank", 1, 32, DEFAULTS.rank, key="rank", bind="query-params")
        bar.number_input(
            "Data seed", 0, 2**31 - 1, DEFAULTS.data_seed, key="data_seed", bind="query-params"
        )
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
    if source != "synthetic" and bar.toggle(
        "Matched norms (random directions)",
        False,
        key="matched",
        bind="query-params",
        help="Replace q and k by random directions with the data's exact row norms (and v by "
        "noise of its scale): what the norms alone make of the error, without the way "
        "queries align with keys.",
    ):
        bar.number_input(
            "Data seed",
            0,
            2**31 - 1,
            DEFAULTS.data_seed,
            key="data_seed",
            bind="query-params",
            help="Draws the random directions (its own stream: never the features' numbers).",
        )
    heads = {"sample": heads, "text": heads, "synthetic": 1, "upload": 64}[source]
    if source == "synthetic":
        heads = bar.slider("Heads", 1, 8, DEFAULTS.num_heads, key="H", bind="query-params")
    bar.selectbox(
        "Head",
        ["all", *range(heads)],
        key="head",
        bind="query-params",
        help="Compare one head, or all heads of the layer at once.",
    )
    bar.header("Approximation")
    name = bar.selectbox(
        "Feature map",
        list(FEATURE_MAPS),
        index=list(FEATURE_MAPS).index(DEFAULTS.feature_map),
        key="fm",
        bind="query-params",
    )
    caption = bar.empty()  # filled once the projection is known: the pair sets the kernel
    bar.select_slider(
        "Random features m", FEATURE_COUNTS, DEFAULTS.num_features, key="m", bind="query-params"
    )
    projection = bar.selectbox(
        "Projection",
        list(PROJECTIONS),
        index=list(PROJECTIONS).index(DEFAULTS.projection),
        key="proj",
        bind="query-params",
    )
    bar.caption(PROJECTION_LABELS[projection])
    caption.caption(f"{FEATURE_MAPS[name].label}: {estimated_kernel(name, projection).summary}")
    bar.number_input(
        "Feature seed",
        0,
        2**31 - 1,
        DEFAULTS.seed,
        key="seed",
        bind="query-params",
        help="Redraw the random features: the error changes, the data does not.",
    )
    with bar.expander("Softmax: the data's own unless set here"):
        st.selectbox(
            "Causal mask",
            list(CAUSAL_CHOICES),
            key="causal",
            bind="query-params",
            help="auto: the data's own (a capture records its model's), else not causal.",
        )
        st.number_input(
            "Sliding window (keys)",
            min_value=-1,
            max_value=2**20,
            value=-1,
            key="window",
            bind="query-params",
            help="−1: the data's own per layer; 0: none; w: query i sees keys i − w < j ≤ i "
            "(causal attention only).",
        )
        st.number_input(
            "Softmax scale",
            min_value=0.0,
            value=0.0,
            format="%.5f",
            key="scale",
            bind="query-params",
            help="0: the data's own, else 1/√d.",
        )
    with bar.expander("Device and precision"):
        st.selectbox(
            "Device", [DEFAULTS.device, *available_devices()], key="device", bind="query-params"
        )
        st.selectbox(
            "Input dtype",
            list(DTYPES),
            index=list(DTYPES).index(DEFAULTS.dtype),
            key="dtype",
            bind="query-params",
            help="Half types are computed with float32 sums.",
        )


def settings() -> Settings:
    """The current sidebar choices as a frozen Settings (validated by ExperimentConfig).

    app.py builds the sidebar before every page (``run_from_app`` sees to that).
    """
    state = st.session_state
    head = state.get("head", "all")
    synthetic = state.get("src") == "synthetic"
    config = replace(
        DEFAULTS,
        feature_map=state.get("fm", DEFAULTS.feature_map),
        num_features=int(state.get("m", DEFAULTS.num_features)),
        projection=state.get("proj", DEFAULTS.projection),
        seed=int(state.get("seed", DEFAULTS.seed)),
        causal=CAUSAL_CHOICES[state.get("causal", "auto")],
        window=None if int(state.get("window", -1)) < 0 else int(state["window"]),
        softmax_scale=float(state.get("scale", 0.0)) or DEFAULTS.softmax_scale,
        device=state.get("device", DEFAULTS.device),
        dtype=state.get("dtype", DEFAULTS.dtype),
        seq_len=int(state.get("L", DEFAULTS.seq_len)),
        head_dim=int(state.get("d", DEFAULTS.head_dim)),
        input_scale=float(state.get("sigma", DEFAULTS.input_scale)),
        data_seed=int(state.get("data_seed", DEFAULTS.data_seed)),
        data_kind=state.get("kind", DEFAULTS.data_kind) if synthetic else DEFAULTS.data_kind,
        alignment=float(state.get("align", DEFAULTS.alignment)),
        num_clusters=int(state.get("clusters", DEFAULTS.num_clusters)),
        rank=int(state.get("rank", DEFAULTS.rank)),
        num_heads=int(state.get("H", DEFAULTS.num_heads)) if synthetic else 1,
    )
    source = state.get("src", "sample")
    return Settings(
        source=source,
        layer=int(state.get("layer", 0)),
        head=None if head == "all" else int(head),
        config=config,
        matched=source != "synthetic" and bool(state.get("matched", False)),
    )
