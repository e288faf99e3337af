"""Tick labels: every builder finishes its figure with exponent notation, never SI prefixes."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

import explorer.charts
from explorer.charts.style import TICKS, finish, finished

MODULES = [
    importlib.import_module(f"explorer.charts.{info.name}")
    for info in pkgutil.iter_modules(explorer.charts.__path__)
    if info.name not in ("style", "export")  # finish itself; export takes finished figures
]
BUILDERS = [
    (module.__name__, name, function)
    for module in MODULES
    for name, function in vars(module).items()
    if inspect.isfunction(function)
    and function.__module__ == module.__name__
    and not name.startswith("_")
    and inspect.signature(function).return_annotation in ("go.Figure", go.Figure)
]


def axes(fig: go.Figure) -> dict[str, dict]:
    """Every x/y axis of a figure's layout (subplots too), by name."""
    layout = fig.to_plotly_json()["layout"]
    return {name: value for name, value in layout.items() if name.startswith(("xaxis", "yaxis"))}


def test_every_chart_builder_is_finished():
    assert len(BUILDERS) >= 15, [name for _, name, _ in BUILDERS]  # the builders were found
    unfinished = [f"{m}.{name}" for m, name, f in BUILDERS if not getattr(f, "finished", False)]
    assert not unfinished, unfinished


def test_finish_sets_every_axis_and_colour_bar():
    fig = make_subplots(rows=2, cols=2)
    fig.add_trace(go.Scatter(x=[1, 2], y=[1e-6, 1e-4]), 1, 1)
    fig.add_trace(go.Heatmap(z=np.full((2, 2), 1e-5)), 2, 2)
    fig.update_yaxes(type="log", row=1, col=1)
    finish(fig)
    assert set(axes(fig)) == {f"{a}axis{i}" for a in "xy" for i in ("", "2", "3", "4")}
    for name, axis in axes(fig).items():
        assert axis["exponentformat"] == "power" and axis["minexponent"] == 4, name
    assert fig.data[1].colorbar.exponentformat == TICKS["exponentformat"]
    assert "colorbar" not in fig.data[0].to_plotly_json()  # a scatter has none to set


def test_finished_keeps_the_builders_name_and_signature():
    @finished
    def chart(values: list[float], *, title: str) -> go.Figure:
        """A chart."""
        return go.Figure(go.Scatter(y=values), layout={"title": title})

    fig = chart([1e-4, 1e-3], title="t")
    assert fig.layout.yaxis.exponentformat == "power" and fig.layout.title.text == "t"
    assert chart.__name__ == "chart" and chart.__doc__ == "A chart."
    assert list(inspect.signature(chart).parameters) == ["values", "title"]


@pytest.mark.parametrize("fmt", ["SI", "B"])
def test_an_explicit_setting_in_a_builder_is_overridden(fmt):
    fig = go.Figure(go.Scatter(y=[1e-4]), layout={"yaxis": {"exponentformat": fmt}})
    assert finish(fig).layout.yaxis.exponentformat == "power"
