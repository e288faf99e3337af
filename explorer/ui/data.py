"""The inputs a page works on: the shipped sample, synthetic draws, or the user's upload."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from explorer.errors import ExplorerError
from explorer.experiments.compare import synthetic_inputs
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.inputs.capture import load_sample
from explorer.inputs.models import MINILM, host_models
from explorer.inputs.synthetic import SYNTHETIC_LABELS, matched_inputs
from explorer.ui.sidebar import Settings


@dataclass(frozen=True, eq=False, kw_only=True)
class Data:
    """The inputs a page works on, with a digest that keys every cache."""

    inputs: AttentionInputs | None  # None: synthetic, drawn from the config
    key: str  # content digest or a description of the synthetic draw
    description: str
    num_layers: int = 1
    layout: str = ""
    metadata: tuple[tuple[str, str], ...] = ()  # an upload's own (untrusted) string metadata


@st.cache_resource
def _sample():
    return load_sample()


@st.cache_data(max_entries=8, show_spinner="Running the model on your text…", scope="session")
def _capture(model: str, text: str):
    """The host-listed model ``model`` (a name, never a visitor's path) run on ``text``."""
    from explorer.inputs.capture import capture_text

    models = host_models()
    if model not in models:
        raise ExplorerError(f"model {model!r} is not one this server offers")
    return capture_text(text, model=models[model])


def _select_head(inputs: AttentionInputs, head: int | None) -> AttentionInputs:
    """One query head with its key/value head (grouped-query heads share theirs), or all."""
    if head is None:
        return inputs
    try:
        return inputs.head(head)
    except ValueError as error:
        raise ExplorerError(str(error)) from None


def uploaded_files() -> list[tuple[str, bytes]]:
    files = st.session_state.get("upload") or []
    # A client naming a file id the server does not hold leaves a DeletedFile placeholder.
    return [(f.name, f.getvalue()) for f in files if isinstance(f, UploadedFile)]


def _digest(files: list[tuple[str, bytes]]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name, data in files:
        h.update(name.encode() + b"\0" + hashlib.blake2b(data).digest())
    return h.hexdigest()


@st.cache_data(max_entries=16, show_spinner="Checking the upload…", scope="session")
def _load_upload(digest: str, layer: int, _files: list[tuple[str, bytes]]):
    from explorer.inputs.uploads.files import load_inputs

    return load_inputs(_files, layer=layer)


def current_data(s: Settings, *, layer: int | None = None) -> Data:
    """The inputs the sidebar selected (``layer`` overrides the sidebar's, for grids)."""
    layer = s.layer if layer is None else layer
    if s.source == "synthetic":
        c = s.config
        # All heads: compare() draws the data itself; one head: slice it here.
        inputs = None if s.head is None else _select_head(synthetic_inputs(c), s.head)
        spec = c.synthetic_spec()
        return Data(
            inputs=inputs,
            key=f"synthetic:{spec}:{s.head}",
            description=f"Synthetic {SYNTHETIC_LABELS[spec.kind]} (σ = {c.input_scale:g}), "
            f"L = {c.seq_len}, d = {c.head_dim}, {c.num_heads} head(s)",
        )
    if s.source == "text":
        text = str(st.session_state.get("text") or "").strip()
        model = str(st.session_state.get("model") or MINILM)
        capture = _capture(model, text)
        digest = hashlib.blake2b(f"{model}\0{text}".encode(), digest_size=16).hexdigest()
        return _real(
            s,
            capture.layer(layer),
            key=f"text:{digest}:{layer}",
            description=f"{capture.model} on your text, layer {layer}: "
            f"{len(capture.tokens)} tokens",
            num_layers=capture.num_layers,
            layout="layers h l d",
        )
    if s.source == "sample":
        sample = _sample()
        return _real(
            s,
            sample.layer(layer),
            key=f"sample:{layer}",
            description=f"all-MiniLM-L6-v2, layer {layer}: {len(sample.tokens)} tokens",
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
    return _real(
        s,
        loaded.inputs,
        key=f"upload:{digest}:{layer}",
        description=loaded.summary(),
        num_layers=first_axis,
        layout=loaded.layout,
        metadata=tuple((key, _shortened(value)) for key, value in loaded.metadata.items()),
    )


@st.cache_data(max_entries=8, show_spinner=False, scope="session")
def _matched(key: str, seed: int, _inputs: AttentionInputs) -> AttentionInputs:
    return matched_inputs(_inputs, seed=seed)


def _real(s: Settings, inputs: AttentionInputs, *, key: str, description: str, **more) -> Data:
    """Data from one layer's real inputs (all heads): norms-matched when asked, then a head.

    Matched norms (``inputs.synthetic.matched_inputs``): q and k rows in random directions
    with the data's exact row norms, v noise of its scale, drawn from the data seed's own
    stream; all heads are drawn before one is kept, so a head is the same in both views.
    """
    if s.matched:
        seed = s.config.data_seed
        inputs = _matched(key, seed, inputs)
        key = f"{key}:matched:{seed}"
        description = (
            f"Norms matched to {description} (random directions with its row norms, "
            f"data seed {seed})"
        )
    return Data(
        inputs=_select_head(inputs, s.head), key=f"{key}:{s.head}", description=description, **more
    )


def _shortened(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"
