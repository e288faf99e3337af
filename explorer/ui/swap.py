"""The cached, cancellable swap of the "In the model" page (``experiments.swap.run_swap``).

Models come from the host's list only (``inputs.models.host_models``: MiniLM and the
directories in ``EXPLORER_MODELS``), never from a path a visitor types. The result is cached by
(model, directory, text, config); a miss runs under a Cancel button with a progress bar, in
one of the server's compute slots, and stops at the next run of the schedule when cancelled.
"""

from __future__ import annotations

import streamlit as st

from explorer.experiments.swap import SwapConfig, run_swap
from explorer.inputs.models import host_models
from explorer.ui.cancel import NotCached, cancellable, job_for
from explorer.ui.compute import compute_slot, runtime


@st.cache_data(max_entries=32, max_size="64MB", show_spinner=False)
def _swap(name: str, directory: str, text: str, config: SwapConfig, _cache_only: bool = False):
    from explorer.experiments.swap_models import load_swap_model

    if _cache_only:  # reached only on a cache miss
        raise NotCached
    bar = st.progress(0.0, text=f"Loading {name}…")
    model = load_swap_model(directory)

    def progress(done: int, total: int, what: str) -> None:
        bar.progress(done / total, text=f"Run {done}/{total}: {what}")

    budget = runtime()[0]
    result = run_swap(
        model, text, config, progress=progress, budget=budget, timeout_s=budget.sweep_timeout_s
    )
    bar.empty()
    return result.to_dict()


def swap_result(name: str, text: str, config: SwapConfig) -> dict | None:
    """``run_swap(...).to_dict()`` of a host-listed model, cached; None when cancelled."""
    models = host_models()
    if name not in models:
        raise ValueError(f"unknown model {name!r}: the host lists {', '.join(models)}")
    args = (name, models[name], text, config)

    def compute(cache_only: bool) -> dict:
        if cache_only:
            return _swap(*args, _cache_only=True)
        with compute_slot():
            return _swap(*args)

    return cancellable(job_for("swap", "the swap", *args), compute)
