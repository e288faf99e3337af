"""Charts of a model report: layers × heads heatmaps and per-layer error curves.

``ratio_heatmap``: the best map's mean output error at one m over the head's uniform baseline
(< 1: better than uniform attention; ≤ the target ratio: the head can be linearised there).
``m_needed_heatmap``: log₂ of the m each head needs for the target (blank: not within the
grid). ``best_map_heatmap``: which map needs the least m. ``layer_curves``: per layer, the
median over heads of error / baseline against m, one line per map. Names of maps come from
the report, never from a file, yet go through ``for_html`` like any label.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.charts.style import PALETTE, SEQUENTIAL, f32, finished
from explorer.experiments.report import ModelReport
from explorer.experiments.report_summary import curves
from explorer.untrusted import for_html


def _grid(table: pd.DataFrame, column: str) -> tuple[np.ndarray, list[int], list[int]]:
    """(layers, heads) array of one summary column, with the layer and head labels."""
    layers = sorted(table["layer"].unique())
    heads = sorted(table["head"].unique())
    pivot = table.pivot(index="layer", columns="head", values=column)
    return pivot.reindex(index=layers, columns=heads).to_numpy(), layers, heads


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title="head", yaxis_title="layer", height=420)
    fig.update_yaxes(autorange="reversed", dtick=1)
    fig.update_xaxes(dtick=1)
    return fig


def ratio_table(report: ModelReport, num_features: int) -> pd.DataFrame:
    """Per (layer, head): the least mean error over maps at m divided by the baseline."""
    curve = curves(report.cells)
    at_m = curve[curve["num_features"] == num_features]
    best = at_m.groupby(["layer", "head"]).agg(
        error=("mean_error", "min"), base=("baseline", "first")
    )
    best["ratio"] = best["error"] / best["base"]
    return best.reset_index()


@finished
def ratio_heatmap(report: ModelReport, num_features: int) -> go.Figure:
    """Best map's mean error / uniform baseline at ``num_features``, layers × heads."""
    values, layers, heads = _grid(ratio_table(report, num_features), "ratio")
    fig = go.Figure(
        go.Heatmap(
            z=f32(values), x=heads, y=layers, colorscale="RdYlGn_r", zmin=0, zmax=1.5,
            colorbar={"title": "error / baseline"},
            hovertemplate="layer %{y}, head %{x}: %{z:.3f}<extra></extra>",
        )
    )  # fmt: skip
    return _layout(fig, f"Best map's output error / uniform baseline at m = {num_features}")


@finished
def m_needed_heatmap(report: ModelReport) -> go.Figure:
    """log₂ of the m needed for the target, layers × heads (blank: not within the grid)."""
    values, layers, heads = _grid(report.summary, "m_needed")
    text = [["—" if not math.isfinite(v) else f"{v:.0f}" for v in row] for row in values]
    fig = go.Figure(
        go.Heatmap(
            z=f32(np.log2(values)), x=heads, y=layers, colorscale=SEQUENTIAL, text=text,
            texttemplate="%{text}", colorbar={"title": "log₂ m"},
            hovertemplate="layer %{y}, head %{x}: m = %{text}<extra></extra>",
        )
    )  # fmt: skip
    return _layout(
        fig, f"m needed for {for_html(report.grid.target_label())} (— : not within the grid)"
    )


@finished
def best_map_heatmap(report: ModelReport) -> go.Figure:
    """The map that needs the least m on each head (coloured by map)."""
    names = list(report.grid.feature_maps)
    table = report.summary.assign(code=report.summary["best_feature_map"].map(names.index))
    values, layers, heads = _grid(table, "code")
    labels, _, _ = _grid(report.summary, "best_feature_map")
    n = len(names)
    scale = []
    for i in range(n):  # one flat colour band per map
        colour = PALETTE[i % len(PALETTE)]
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    fig = go.Figure(
        go.Heatmap(
            z=values.astype(float), x=heads, y=layers, zmin=-0.5, zmax=n - 0.5,
            colorscale=scale, text=[[for_html(v) for v in row] for row in labels],
            texttemplate="%{text}", showscale=False,
            hovertemplate="layer %{y}, head %{x}: %{text}<extra></extra>",
        )
    )  # fmt: skip
    return _layout(fig, "Best map per head")


@finished
def layer_curves(report: ModelReport, *, columns: int = 3) -> go.Figure:
    """Per layer: median over heads of mean error / baseline against m, a line per map."""
    curve = curves(report.cells)
    curve = curve.assign(ratio=curve["mean_error"] / curve["baseline"])
    best = curve.groupby(["layer", "head", "feature_map", "num_features"])["ratio"].min()
    median = best.groupby(["layer", "feature_map", "num_features"]).median().reset_index()
    layers = sorted(median["layer"].unique())
    rows = math.ceil(len(layers) / columns)
    fig = make_subplots(
        rows=rows, cols=min(columns, len(layers)), subplot_titles=[f"layer {i}" for i in layers],
        shared_yaxes=True,
    )  # fmt: skip
    for index, layer in enumerate(layers):
        for k, name in enumerate(report.grid.feature_maps):
            line = median[(median["layer"] == layer) & (median["feature_map"] == name)]
            fig.add_trace(
                go.Scatter(
                    x=line["num_features"], y=f32(line["ratio"]), name=for_html(name),
                    legendgroup=name, showlegend=index == 0, mode="lines+markers",
                    line={"color": PALETTE[k % len(PALETTE)]},
                ),
                row=index // columns + 1, col=index % columns + 1,
            )  # fmt: skip
    target = report.grid.target_ratio if report.grid.target_error is None else None
    if target is not None:
        fig.add_hline(y=target, line_dash="dot", line_color="#444444")
    fig.update_xaxes(type="log", title_text="m")
    fig.update_yaxes(type="log")
    fig.update_layout(
        title="Median over heads of output error / uniform baseline (dotted: the target)",
        height=260 * rows + 80,
    )
    return fig
