"""Cached recipe comparison (``experiments.recipes``) for the Error distributions page."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from explorer.experiments.budget import Workload
from explorer.experiments.compare import ExperimentConfig
from explorer.experiments.recipes import recipe_table
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.kernels.recipes import RECIPES
from explorer.ui.cancel import NotCached, cancellable, job_for
from explorer.ui.compute import compute_slot, runtime
from explorer.ui.data import Data
from explorer.ui.sidebar import Settings


@st.cache_data(max_entries=16, max_size="16MB", show_spinner="Running every recipe…")
def _recipes(
    config: ExperimentConfig,
    key: str,
    seeds: int,
    _inputs: AttentionInputs | None,
    _cache_only: bool = False,
) -> pd.DataFrame:
    if _cache_only:  # reached only on a cache miss
        raise NotCached
    return recipe_table(config, _inputs, seeds=range(seeds))


def recipes_table(s: Settings, data: Data, *, seeds: int) -> pd.DataFrame | None:
    """Every recipe on the current data and m over ``seeds`` seeds, within the budget, under
    a Cancel button (None: cancelled)."""
    config = replace(s.config, seed=0, recipe="explorer")  # each run sets both: fixed in the key
    budget, _ = runtime()
    budget.check_sweep(len(RECIPES) * seeds)
    budget.check_comparison(Workload.of(config, data.inputs))
    args = (config, data.key, seeds)

    def compute(cache_only: bool) -> pd.DataFrame:
        if cache_only:
            return _recipes(*args, data.inputs, _cache_only=True)
        with compute_slot():
            return _recipes(*args, data.inputs)

    return cancellable(job_for("recipes", "the recipes", *args), compute)
