"""Cached core calls, within the request budget and a server-wide limit on heavy work.

Cache keys are frozen configs and input digests, never arrays. Every call checks the budget
(``experiments.budget``) before allocating, then takes one of ``EXPLORER_MAX_CONCURRENT`` compute
slots shared by all sessions (a semaphore held in ``st.cache_resource``), showing "waiting for
a free slot" while the server is busy. Sweeps, paper figures and timings run through
``ui.cancel.cancellable`` (a Cancel button): they return None when cancelled, and their cached
functions take ``_cache_only`` (look the result up, compute nothing).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pandas as pd
import streamlit as st
import torch

from explorer.cancel import checkpoint
from explorer.errors import BudgetError, ExplorerError
from explorer.experiments.budget import Budget, Workload
from explorer.experiments.compare import Comparison, ExperimentConfig, compare
from explorer.experiments.sweep import sweep, sweep_configs
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.theory.montecarlo_curves import MONTE_CARLO
from explorer.ui.cancel import NotCached, cancellable, job_for
from explorer.ui.data import Data
from explorer.ui.sidebar import Settings


@st.cache_resource
def runtime() -> tuple[Budget, threading.BoundedSemaphore]:
    """The deployment's budget and the compute slots shared by every session."""
    budget = Budget.from_env()
    if budget.torch_threads:
        torch.set_num_threads(budget.torch_threads)
    return budget, threading.BoundedSemaphore(budget.max_concurrent)


@contextmanager
def compute_slot() -> Iterator[None]:
    """Hold one compute slot; wait (with a status) while all are busy."""
    budget, slots = runtime()
    if not slots.acquire(blocking=False):
        with st.status("Waiting for a free compute slot (the server is busy)…") as status:
            deadline = time.monotonic() + budget.sweep_timeout_s
            while not slots.acquire(timeout=0.25):  # short waits: a Cancel stops this one too
                checkpoint()
                if time.monotonic() > deadline:
                    status.update(label="No compute slot came free", state="error")
                    raise BudgetError("the server stayed busy: try again in a minute")
            status.update(label="Got a compute slot", state="complete")
    try:
        yield
    finally:
        slots.release()


def _check(config: ExperimentConfig, data: Data) -> None:
    budget, _ = runtime()
    budget.check_comparison(Workload.of(config, data.inputs))


@st.cache_data(
    max_entries=64, max_size="512MB", show_spinner="Computing exact and approximate attention…"
)
def _compare(config: ExperimentConfig, key: str, _inputs: AttentionInputs | None) -> Comparison:
    return compare(config, _inputs)


def comparison(s: Settings, data: Data, **changes) -> Comparison:
    """Cached ``compare`` of the current data under the settings' config (with changes)."""
    config = replace(s.config, **changes)
    _check(config, data)
    with compute_slot():
        return _compare(config, data.key, data.inputs)


@st.cache_data(max_entries=16, max_size="256MB", show_spinner="Running the norms-matched control…")
def _norms_control(config: ExperimentConfig, key: str, _inputs: AttentionInputs):
    from explorer.experiments.control import control_runs

    return control_runs(config, _inputs)


def norms_control(s: Settings, data: Data) -> tuple[list[Comparison], list[Comparison]]:
    """Cached ``experiments.control.control_runs`` on real data: (real, control) comparisons."""
    if data.inputs is None:
        raise ExplorerError("the norms-matched control needs real inputs, not synthetic ones")
    _check(s.config, data)
    with compute_slot():
        return _norms_control(s.config, data.key, data.inputs)


@st.cache_data(max_entries=16, max_size="128MB", show_spinner=False)
def _sweep(
    config: ExperimentConfig,
    axes: tuple,
    seeds: tuple,
    key: str,
    _inputs: AttentionInputs | None,
    _cache_only: bool = False,
) -> pd.DataFrame:
    if _cache_only:  # reached only on a cache miss
        raise NotCached
    bar = st.progress(0.0, text="Running the sweep…")

    def progress(done: int, total: int, cfg: ExperimentConfig) -> None:
        bar.progress(
            done / total,
            text=f"Run {done}/{total}: {cfg.feature_map}, m = {cfg.num_features}, seed {cfg.seed}",
        )

    budget, _ = runtime()
    table = sweep(
        config,
        dict(axes),
        seeds=seeds,
        inputs=_inputs,
        progress=progress,
        timeout_s=budget.sweep_timeout_s,
    )
    bar.empty()
    return table


def sweep_table(
    s: Settings, data: Data, axes: dict, seeds: range, *, name: str, what: str = "the sweep"
) -> pd.DataFrame | None:
    """Cached sweep with a progress bar and a Cancel button (None: cancelled); checked first.

    ``name`` tells the page's sweeps apart (it keys the Cancel and Run buttons).
    """
    frozen = tuple((name, tuple(values)) for name, values in axes.items())
    # The swept fields and the seed are overridden by every run: fix them in the cache key,
    # so changing them in the sidebar does not recompute the sweep.
    base = replace(s.config, seed=0, **{name: values[0] for name, values in frozen if values})
    budget, _ = runtime()
    configs = sweep_configs(base, dict(frozen), tuple(seeds))
    budget.check_sweep(len(configs))
    for config in configs:
        _check(config, data)
    args = (base, frozen, tuple(seeds), data.key)

    def compute(cache_only: bool) -> pd.DataFrame:
        if cache_only:
            return _sweep(*args, data.inputs, _cache_only=True)
        with compute_slot():
            return _sweep(*args, data.inputs)

    return cancellable(job_for(name, what, *args), compute)


@st.cache_data(max_entries=32, show_spinner="Evaluating the closed-form prediction…")
def _prediction(config: ExperimentConfig, key: str, _inputs: AttentionInputs | None):
    from explorer.experiments.predict import predict_output_error

    return predict_output_error(config, _inputs)


def prediction(s: Settings, data: Data, **changes):
    """Cached delta-method prediction of the output error (positive features), or None."""
    config = replace(s.config, **changes)
    with compute_slot():
        return _prediction(config, data.key, data.inputs)


@st.cache_data(max_entries=8, max_size="64MB", show_spinner=False)
def _figure_table(name: str, size: str, _cache_only: bool = False) -> pd.DataFrame:
    from explorer.figures.presets import figure_table as compute

    if _cache_only:
        raise NotCached

    bar = st.progress(0.0, text=f"Computing {name}…")

    def progress(done: int, total: int, text: str) -> None:
        bar.progress(done / total, text=f"{name}, run {done}/{total}: {text}")

    table = compute(name, size=size, progress=progress)
    bar.empty()
    return table


def figure_table(name: str, size: str = "paper") -> pd.DataFrame | None:
    """Cached table of a paper-figure preset (``explorer.figures.presets``), with a progress
    bar and a Cancel button (None: cancelled)."""

    def compute(cache_only: bool) -> pd.DataFrame:
        if cache_only:
            return _figure_table(name, size, _cache_only=True)
        with compute_slot():
            return _figure_table(name, size)

    return cancellable(job_for(f"figure_{name}", f"{name} ({size})", name, size), compute)


@st.cache_data(max_entries=64, max_size="32MB", show_spinner="Running the Monte Carlo check…")
def _monte_carlo(name: str, settings: tuple) -> pd.DataFrame:
    return MONTE_CARLO[name](**dict(settings))


def monte_carlo(name: str, **settings) -> pd.DataFrame:
    """Cached seeded Monte Carlo table ``MONTE_CARLO[name](**settings)``."""
    if name not in MONTE_CARLO:
        raise ValueError(f"unknown Monte Carlo table {name!r}: use one of {', '.join(MONTE_CARLO)}")
    return _monte_carlo(name, tuple(sorted(settings.items())))


@st.cache_data(max_entries=8, max_size="16MB", show_spinner=False)
def _timing_table(
    size: str, device: str, causal: bool, memory: bool, _cache_only: bool = False
) -> pd.DataFrame:
    from explorer.figures.speed import fig3_table

    if _cache_only:
        raise NotCached

    bar = st.progress(0.0, text="Timing…")

    def progress(done: int, total: int, text: str) -> None:
        bar.progress(done / total, text=f"Point {done}/{total}: {text}")

    table = fig3_table(
        size,
        device=device,
        causal_modes=(causal,),
        memory=memory,
        budget=runtime()[0],
        progress=progress,
    )
    bar.empty()
    return table


def timing_table(size: str, device: str, *, causal: bool, memory: bool) -> pd.DataFrame | None:
    """Cached time (and peak memory) vs L of every method, one point at a time, with a Cancel
    button (None: cancelled; it stops between timed calls, which cannot be interrupted)."""
    args = (size, device, causal, memory)

    def compute(cache_only: bool) -> pd.DataFrame:
        if cache_only:
            return _timing_table(*args, _cache_only=True)
        with compute_slot():
            return _timing_table(*args)

    return cancellable(job_for("timing", "the timing", *args), compute)
