"""Error distributions: histograms, ECDFs, input-norm histograms and the spread over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.charts.style import BASELINE_STYLE, PALETTE, finished


@finished
def error_histogram(
    values: np.ndarray,
    *,
    title: str,
    x_title: str,
    baseline: float | None = None,
    log_y: bool = False,
) -> go.Figure:
    """Histogram of finite values, with an optional vertical line for the uniform baseline."""
    values = np.asarray(values, dtype=np.float64).ravel()
    finite = values[np.isfinite(values)]
    fig = go.Figure(go.Histogram(x=finite.astype(np.float32), nbinsx=60, marker_color=PALETTE[0]))
    if baseline is not None and np.isfinite(baseline):
        fig.add_vline(x=baseline, line=BASELINE_STYLE, annotation_text="uniform attention")
    dropped = values.size - finite.size
    note = f"<br><sup>{dropped} rows undefined (+inf) not drawn</sup>" if dropped else ""
    fig.update_layout(
        title=title + note,
        xaxis_title=x_title,
        yaxis_title="count",
        height=320,
        yaxis_type="log" if log_y else "linear",
        margin={"t": 60, "l": 10, "r": 10},
    )
    return fig


@finished
def ecdf(values: np.ndarray, *, title: str, x_title: str) -> go.Figure:
    """Empirical CDF of |values| on a log x axis (how many entries are within a tolerance)."""
    magnitudes = np.sort(np.abs(np.asarray(values, dtype=np.float64).ravel()))
    magnitudes = magnitudes[np.isfinite(magnitudes) & (magnitudes > 0)]
    probs = np.arange(1, magnitudes.size + 1) / max(1, magnitudes.size)
    fig = go.Figure(
        go.Scatter(
            x=magnitudes.astype(np.float32),
            y=probs.astype(np.float32),
            mode="lines",
            line={"color": PALETTE[0]},
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title="fraction ≤ x",
        xaxis_type="log",
        height=320,
        margin={"t": 50, "l": 10, "r": 10},
    )
    return fig


@finished
def norm_histograms(x_sq_norms: np.ndarray, pair_sq_sums: np.ndarray) -> go.Figure:
    """|x|² and |x + y|² histograms: |x + y|² sets the error of positive features."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("|x|² (queries, scaled)", "|x + y|² (random query–key pairs)"),
    )
    fig.add_trace(
        go.Histogram(
            x=np.ravel(x_sq_norms).astype(np.float32),
            nbinsx=50,
            marker_color=PALETTE[0],
            name="|x|²",
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Histogram(
            x=np.ravel(pair_sq_sums).astype(np.float32),
            nbinsx=50,
            marker_color=PALETTE[1],
            name="|x+y|²",
        ),
        1,
        2,
    )
    fig.update_layout(showlegend=False, height=300, margin={"t": 50, "l": 10, "r": 10})
    return fig


@finished
def seed_spread(
    table: pd.DataFrame,
    *,
    metric: str = "output_relative_error",
    predicted: dict[str, float] | None = None,
) -> go.Figure:
    """Error across redraws (seeds) per feature map, with the uniform baseline and theory."""
    fig = go.Figure()
    for i, (name, group) in enumerate(table.groupby("feature_map", sort=False)):
        fig.add_trace(
            go.Box(
                y=group[metric].astype(np.float32),
                name=str(name),
                boxpoints="all",
                jitter=0.4,
                marker_color=PALETTE[i % len(PALETTE)],
            )
        )
    baseline_column = {
        "output_relative_error": "uniform_baseline_error",
        "weights_relative_error": "uniform_weights_error",
        "row_tv_mean": "uniform_row_tv_mean",
    }.get(metric)
    if baseline_column and baseline_column in table:
        fig.add_hline(
            y=float(table[baseline_column].iloc[0]),
            line=BASELINE_STYLE,
            annotation_text="uniform attention",
        )
    for name, value in (predicted or {}).items():
        fig.add_trace(
            go.Scatter(
                x=[name],
                y=[value],
                mode="markers",
                name=f"{name}: theory",
                marker={"symbol": "x", "size": 14, "color": "black"},
            )
        )
    fig.update_layout(
        title=f"{metric.replace('_', ' ')} across redraws of the features",
        yaxis_title=metric.replace("_", " "),
        height=380,
        showlegend=False,
        margin={"t": 50, "l": 10, "r": 10},
    )
    return fig
