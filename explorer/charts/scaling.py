"""Scaling charts: error vs m (log-log, with the delta method), error vs σ or temperature, Fig. 4.

Inputs are the plain summaries of ``explorer.experiments.summaries`` (one row per curve and x, with
mean, std and the uniform baseline). Every chart keeps the uniform-attention baseline in view.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.charts.style import BASELINE_STYLE, PALETTE, THEORY_STYLE, f32, finished
from explorer.kernels.feature_maps import FEATURE_MAPS
from explorer.untrusted import for_html

DASHES = ("solid", "dash", "dot", "dashdot")
MAP_ORDER = tuple(FEATURE_MAPS)  # each map keeps its colour on every chart


def map_colour(name: str) -> str:
    """One colour per feature map, the same in every scaling and theory chart."""
    index = MAP_ORDER.index(name) if name in MAP_ORDER else len(MAP_ORDER)
    return PALETTE[index % len(PALETTE)]


def _colours(names) -> dict[str, str]:
    return {name: map_colour(str(name)) for name in dict.fromkeys(names)}


def _baseline_trace(x, y, **kw) -> go.Scatter:
    """The uniform-attention baseline as a trace (hline annotations misplace on log axes)."""
    return go.Scatter(
        x=f32(x), y=f32(y), mode="lines", name="uniform attention", line=BASELINE_STYLE, **kw
    )


def _mean_trace(group: pd.DataFrame, x: str, name: str, colour: str, dash: str, **kw) -> go.Scatter:
    return go.Scatter(
        x=f32(group[x]),
        y=f32(group["mean"]),
        error_y={"type": "data", "array": f32(group["std"]), "thickness": 1, "width": 3},
        mode="lines+markers",
        name=name,
        line={"color": colour, "dash": dash},
        customdata=np.stack([f32(group["low"]), f32(group["high"])], axis=-1),
        hovertemplate=f"{name}<br>{x} = %{{x:.4g}}<br>mean %{{y:.4g}} ± %{{error_y.array:.2g}}"
        "<br>range %{customdata[0]:.3g} to %{customdata[1]:.3g}<extra></extra>",
        **kw,
    )


@finished
def error_vs_m(
    summary: pd.DataFrame,
    *,
    metric_label: str,
    prediction: pd.DataFrame | None = None,
    title: str = "",
) -> go.Figure:
    """Mean ± std over seeds vs m per (map, projection), with m^(-1/2), baseline and theory."""
    fig = go.Figure()
    colours = _colours(summary["feature_map"])
    dashes = {p: DASHES[i % len(DASHES)] for i, p in enumerate(dict.fromkeys(summary.projection))}
    for (name, projection), group in summary.groupby(["feature_map", "projection"], sort=False):
        fig.add_trace(
            _mean_trace(
                group, "num_features", f"{name}, {projection}", colours[name], dashes[projection]
            )
        )
    ms = np.sort(summary["num_features"].unique()).astype(np.float64)
    first = summary[summary["num_features"] == ms[0]]["mean"]
    first = first[np.isfinite(first)]
    if len(ms) > 1 and len(first):
        fig.add_trace(
            go.Scatter(
                x=f32(ms),
                y=f32(float(first.median()) * np.sqrt(ms[0] / ms)),
                mode="lines",
                name="∝ m^(-1/2)",
                line={"color": "#aaaaaa", "dash": "dot", "width": 1},
            )
        )
    if prediction is not None and prediction["valid"].any():
        shown = prediction[prediction["valid"]]
        fig.add_trace(
            go.Scatter(
                x=f32(shown["num_features"]),
                y=f32(shown["predicted"]),
                mode="lines+markers",
                name="delta method (positive, iid)",
                marker={"symbol": "x", "size": 9},
                line=THEORY_STYLE,
            )
        )
    baseline = float(summary["baseline"].mean())
    fig.add_trace(_baseline_trace(ms[[0, -1]], [baseline, baseline]))
    fig.update_layout(
        title=title or f"{metric_label} vs number of random features m",
        xaxis={"title": "m (random vectors)", "type": "log"},
        yaxis={"title": metric_label, "type": "log"},
        height=440,
        margin={"t": 60, "l": 10, "r": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


@finished
def error_vs_scale(
    summary: pd.DataFrame,
    *,
    x: str,
    x_title: str,
    metric_label: str,
    breakdowns: Mapping[str, float | None] | None = None,
    title: str = "",
) -> go.Figure:
    """Error vs σ (or temperature) and vs mean |x+y|², per map, with the baseline on both."""
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=(f"vs {x_title}", "vs mean |x + y|² (what the theory sees)"),
    )
    colours = _colours(summary["feature_map"])
    for i, (name, group) in enumerate(summary.groupby("feature_map", sort=False)):
        for col, axis in ((1, x), (2, "mean_pair_sq_sum")):
            fig.add_trace(
                _mean_trace(
                    group,
                    axis,
                    str(name),
                    colours[name],
                    DASHES[i % len(DASHES)],  # curves that coincide stay visible
                    showlegend=col == 1,
                    legendgroup=str(name),
                ),
                1,
                col,
            )
        point = (breakdowns or {}).get(str(name))
        if point is not None:
            fig.add_vline(
                x=point, line={"color": colours[name], "width": 1, "dash": "dot"}, row=1, col=1
            )
    base = summary.drop_duplicates(x).sort_values(x)
    for col, axis in ((1, x), (2, "mean_pair_sq_sum")):
        fig.add_trace(
            _baseline_trace(base[axis], base["baseline"], showlegend=col == 1, legendgroup="u"),
            1,
            col,
        )
    fig.update_xaxes(type="log", title_text=x_title, row=1, col=1)
    fig.update_xaxes(type="log", title_text="mean |x + y|²", row=1, col=2)
    fig.update_yaxes(type="log", title_text=metric_label, row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(
        title=title or f"{metric_label} vs {x_title}: where each estimator breaks down",
        height=440,
        margin={"t": 80, "l": 10, "r": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


@finished
def paper_fig4(summary: pd.DataFrame, *, title: str) -> go.Figure:
    """Performer Fig. 4: output MSE vs m, {orthogonal, iid} × {positive, trig}, ± std."""
    fig = go.Figure()
    dashes = {"orthogonal": "solid", "iid": "dash"}
    for (name, projection), group in summary.groupby(["feature_map", "projection"], sort=False):
        short = {"positive": "POS", "trig": "TRIG"}.get(name, name)
        label = f"{'ORF' if projection == 'orthogonal' else 'IID'} {short}"
        fig.add_trace(
            _mean_trace(
                group,
                "num_features",
                label,
                map_colour(name),
                dashes.get(projection, "dot"),
            )
        )
    base = summary.drop_duplicates("num_features").sort_values("num_features")
    fig.add_trace(_baseline_trace(base["num_features"], base["baseline"]))
    fig.update_layout(
        title=title,
        xaxis={"title": "m (random vectors)", "type": "log"},
        yaxis={"title": "output MSE (mean over entries)", "type": "log"},
        height=460,
        margin={"t": 80, "l": 10, "r": 10},
    )
    return fig


@finished
def delta_method_chart(
    measured: pd.DataFrame, curve: pd.DataFrame, *, metric_label: str, title: str
) -> go.Figure:
    """Measured error (mean ± std over seeds) vs the delta-method curve, solid where valid."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=f32(measured["num_features"]),
            y=f32(measured["mean"]),
            mode="lines+markers",
            name="measured (positive, iid)",
            line={"color": PALETTE[0]},
            error_y={"type": "data", "array": f32(measured["std"]), "thickness": 1},
        )
    )
    for valid, style, label in (
        (True, THEORY_STYLE, "delta method (valid)"),
        (False, {"dash": "dot", "color": "#bbbbbb"}, "delta method (outside validity)"),
    ):
        part = curve[curve["valid"] == valid]
        if len(part):
            fig.add_trace(
                go.Scatter(
                    x=f32(part["num_features"]),
                    y=f32(part["predicted"]),
                    mode="lines+markers",
                    name=label,
                    line=style,
                    marker={"symbol": "x", "size": 8},
                )
            )
    baseline = float(measured["baseline"].mean())
    ends = measured["num_features"].iloc[[0, -1]]
    fig.add_trace(
        go.Scatter(
            x=f32(ends),
            y=f32([baseline, baseline]),
            mode="lines",
            name="uniform attention",
            line=BASELINE_STYLE,
        )
    )
    fig.update_layout(
        title=for_html(title),  # may name an upload: plotly renders tags in titles
        xaxis={"title": "m (random vectors)", "type": "log"},
        yaxis={"title": metric_label, "type": "log"},
        height=400,
        margin={"t": 60, "l": 10, "r": 10},
    )
    return fig
