"""Colours, line styles, tick labels and array conversion shared by every chart.

Every builder is wrapped in ``finished``, which applies ``finish`` to the figure it returns:
tick labels in plain or exponent notation (0.001, 10⁻⁴, 2×10⁻⁵) on every axis and colour bar.
plotly's default ("B") writes small numbers with SI prefixes, so 1e-4 reads "100µ", as if it
were micro-units. The setting travels inside each figure (no global plotly template is
touched), so the app, its downloads and the command line's files all show the same labels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

import numpy as np
import plotly.graph_objects as go

SEQUENTIAL = "Viridis"
DIVERGING = "RdBu_r"
NEGATIVE_BLUE = "#2166ac"
BASELINE_STYLE = {"dash": "dash", "color": "#888888"}
THEORY_STYLE = {"dash": "dot", "color": "#444444"}
PALETTE = ("#4c6ef5", "#f76707", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#e67700")
# "power": log axes label decades 10⁻⁴ … 1, linear ones 2×10⁻⁵; minexponent 4 keeps 0.0005 and
# 20,000 plain on linear axes (the default, 3, would write 0.5×10⁴).
TICKS = {"exponentformat": "power", "minexponent": 4}

P = ParamSpec("P")


def finish(fig: go.Figure) -> go.Figure:
    """Exponent-notation ticks on every axis (subplots too) and colour bar; returns ``fig``."""
    fig.update_xaxes(**TICKS)
    fig.update_yaxes(**TICKS)
    for trace in fig.data:
        if "colorbar" in trace:  # heatmaps: their colour bar is an axis too
            trace.update(colorbar=TICKS)
    return fig


def finished(build: Callable[P, go.Figure]) -> Callable[P, go.Figure]:
    """Decorate a chart builder so that the figure it returns is ``finish``-ed."""

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> go.Figure:
        return finish(build(*args, **kwargs))

    wrapper.finished = True  # type: ignore[attr-defined]  # checked by tests/core/charts
    return wrapper


def f32(values) -> np.ndarray:
    """Chart data as float32: half the bytes sent to the browser, all the precision a plot needs."""
    return np.asarray(values, dtype=np.float64).astype(np.float32)
