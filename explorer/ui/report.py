"""The model report in the app: every layer of the current data, cached per data and grid.

``model_source`` gives the whole model behind the sidebar's source (the sample's or your
text's capture, every layer of an upload, or the synthetic draw as one layer) with a key for
the cache; ``report`` runs ``experiments.report.model_report`` under a progress bar and a
Cancel button (``cancel.cancellable``). A head opens on the attention maps through a deep link
(``ATTENTION_PAGE`` with the sidebar's query parameters, layer and head replaced).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from explorer.experiments.compare import synthetic_inputs
from explorer.experiments.report import ModelReport, as_source, model_report
from explorer.experiments.report_grid import ReportGrid
from explorer.ui.cancel import NotCached, cancellable, job_for
from explorer.ui.compute import compute_slot, runtime
from explorer.ui.data import _capture, _digest, _load_upload, _sample, uploaded_files
from explorer.ui.sidebar import Settings

ATTENTION_PAGE = "pages/attention_maps.py"


@dataclass(frozen=True, eq=False, kw_only=True)
class ModelSource:
    """Every layer of the current data, with the digest that keys the cache."""

    source: object  # num_layers and layer(i) → AttentionInputs
    key: str
    description: str


class _UploadLayers:
    def __init__(self, digest: str, files, num_layers: int) -> None:
        self.digest, self.files, self.num_layers = digest, files, num_layers

    def layer(self, index: int):
        return _load_upload(self.digest, index, self.files).inputs


def model_source(s: Settings) -> ModelSource:
    """The model behind the sidebar's source (raw data: no norms matching, all heads)."""
    if s.source == "sample":
        return ModelSource(source=_sample(), key="sample", description="all-MiniLM-L6-v2, sample")
    if s.source == "text":
        import hashlib

        text = str(st.session_state.get("text") or "").strip()
        digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        return ModelSource(
            source=_capture(text), key=f"text:{digest}", description="all-MiniLM-L6-v2 on your text"
        )
    if s.source == "upload":
        files = uploaded_files()
        if files:
            digest = _digest(files)
            first = _load_upload(digest, 0, files)
            layers = first.source_shapes["q"][0] if first.layer is not None else 1
            return ModelSource(
                source=_UploadLayers(digest, files, layers),
                key=f"upload:{digest}",
                description=first.summary(),
            )
    inputs = synthetic_inputs(s.config)
    spec = s.config.synthetic_spec()
    return ModelSource(source=as_source(inputs), key=f"synthetic:{spec}", description="synthetic")


@st.cache_data(max_entries=8, max_size="256MB", show_spinner=False)
def _report(grid: ReportGrid, key: str, _source, _cache_only: bool = False) -> ModelReport:
    if _cache_only:  # reached only on a cache miss
        raise NotCached
    bar = st.progress(0.0, text="Running the model report…")

    def progress(done: int, total: int, text: str) -> None:
        bar.progress(done / max(1, total), text=f"Layer {done}/{total}: {text}")

    result = model_report(_source, grid, progress=progress)
    bar.empty()
    return result


def report(model: ModelSource, grid: ReportGrid) -> ModelReport | None:
    """The cached report of ``model`` over ``grid`` (None: cancelled)."""

    budget, _ = runtime()
    budget.check_report(grid, model.source.layer(grid.layers[0] if grid.layers else 0))

    def compute(cache_only: bool) -> ModelReport:
        if cache_only:
            return _report(grid, model.key, model.source, _cache_only=True)
        with compute_slot():
            return _report(grid, model.key, model.source)

    return cancellable(job_for("model_report", "the model report", grid, model.key), compute)
