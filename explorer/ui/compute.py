"""Cached core calls: keyed by frozen configs and input digests, never by arrays."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from explorer.experiment import Comparison, ExperimentConfig, compare
from explorer.inputs import AttentionInputs
from explorer.sweep import sweep
from explorer.ui.data import Data
from explorer.ui.sidebar import Settings


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


@st.cache_data(max_entries=32, show_spinner="Evaluating the closed-form prediction…")
def _prediction(config: ExperimentConfig, key: str, _inputs: AttentionInputs | None):
    from explorer.predict import predict_output_error

    return predict_output_error(config, _inputs)


def prediction(s: Settings, data: Data, **changes):
    """Cached delta-method prediction of the output error (positive features), or None."""
    return _prediction(replace(s.config, **changes), data.key, data.inputs)
