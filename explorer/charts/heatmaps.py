"""Attention heatmaps: exact | approximate | difference, per-head grids, one query's row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.charts.style import DIVERGING, NEGATIVE_BLUE, PALETTE, SEQUENTIAL, finished
from explorer.reference.display_maps import AttentionMaps
from explorer.untrusted import for_html


def _labels(tokens: Sequence[str] | None, pool: int, length: int) -> list[str] | None:
    """Axis labels: tokens (made unique with their position) when shown unpooled."""
    if tokens is None or pool != 1 or len(tokens) != length:
        return None
    # Tokens come from uploaded files: escape them, plotly renders tags in labels.
    return [f"{i}:{for_html(t)}" for i, t in enumerate(tokens)]


def _weights_scale(zmin: float, zmax: float) -> list:
    """Sequential scale from 0 to zmax, with a blue band below 0 when zmin < 0."""
    if zmin >= 0 or zmax <= 0:
        return SEQUENTIAL
    zero = -zmin / (zmax - zmin)
    viridis = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]
    steps = [[zero + (1 - zero) * i / 4, c] for i, c in enumerate(viridis)]
    return [[0.0, NEGATIVE_BLUE], [zero, "#d1e5f0"], *steps]


@finished
def attention_heatmaps(
    maps: AttentionMaps,
    head: int,
    *,
    query_tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    title: str = "",
) -> go.Figure:
    """Exact | approximate | difference for one head, exact and approximate on one scale."""
    exact = maps.exact[head].astype(np.float32)
    approx = maps.approx[head].astype(np.float32)
    diff = approx - exact
    zmin = float(min(0.0, approx.min()))
    zmax = float(max(exact.max(), approx.max(), 1e-12))
    dmax = float(np.abs(diff).max()) or 1e-12
    x = _labels(key_tokens, maps.pool[1], exact.shape[1])
    y = _labels(query_tokens, maps.pool[0], exact.shape[0])
    pooled = maps.pool != (1, 1)
    names = ("Exact softmax P", "Approximate P̂", "Difference P̂ − P")
    fig = make_subplots(rows=1, cols=3, subplot_titles=names, horizontal_spacing=0.1)
    scale = _weights_scale(zmin, zmax)
    common = {"x": x, "y": y, "hovertemplate": "query %{y}<br>key %{x}<br>%{z:.4g}<extra></extra>"}
    fig.add_trace(
        go.Heatmap(
            z=exact,
            zmin=zmin,
            zmax=zmax,
            colorscale=scale,
            colorbar={"x": 0.64, "xanchor": "left", "len": 0.9, "thickness": 12, "title": "P"},
            **common,
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Heatmap(z=approx, zmin=zmin, zmax=zmax, colorscale=scale, showscale=False, **common),
        1,
        2,
    )
    fig.add_trace(
        go.Heatmap(
            z=diff,
            zmin=-dmax,
            zmax=dmax,
            colorscale=DIVERGING,
            colorbar={"x": 1.01, "xanchor": "left", "len": 0.9, "thickness": 12, "title": "P̂−P"},
            **common,
        ),
        1,
        3,
    )
    for col in (1, 2, 3):
        fig.update_yaxes(autorange="reversed", row=1, col=col, showticklabels=col == 1)
    notes = []
    if pooled:
        notes.append(f"downsampled for display: each cell averages {maps.pool[0]}×{maps.pool[1]}")
    if maps.negative_entries:
        notes.append(f"{maps.negative_entries} negative approximate weights (blue)")
    subtitle = f"<br><sup>{'; '.join(notes)}</sup>" if notes else ""
    fig.update_layout(
        title=f"{for_html(title)}{subtitle}", height=460, margin={"t": 90, "l": 10, "r": 10}
    )
    return fig


@finished
def head_grid(
    maps_by_row: Sequence[np.ndarray],
    *,
    row_names: Sequence[str],
    kind: str,
) -> go.Figure:
    """Small multiples: one map per (row, head), e.g. layers × heads; rows of (h, l, s)."""
    rows, cols = len(maps_by_row), maps_by_row[0].shape[0]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        horizontal_spacing=0.005,
        vertical_spacing=0.01,
        column_titles=[f"h{h}" for h in range(cols)],
        row_titles=list(row_names),
    )
    diverging = kind == "difference"
    bound = max(float(np.abs(m).max()) for m in maps_by_row) or 1e-12
    for r, stack in enumerate(maps_by_row, start=1):
        for h in range(cols):
            fig.add_trace(
                go.Heatmap(
                    z=stack[h].astype(np.float32),
                    showscale=(r == 1 and h == 0),
                    colorscale=DIVERGING if diverging else SEQUENTIAL,
                    zmin=-bound if diverging else 0.0,
                    zmax=bound,
                    hovertemplate=f"{row_names[r - 1]} h{h}<br>query %{{y}} key %{{x}}"
                    "<br>%{z:.3g}<extra></extra>",
                ),
                r,
                h + 1,
            )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    fig.update_layout(
        height=max(260, 90 * rows + 60),
        margin={"t": 40, "l": 10, "r": 10},
        title=f"{kind} attention per head",
    )
    return fig


@finished
def query_distribution(
    exact_row: np.ndarray,
    approx_row: np.ndarray,
    *,
    key_tokens: Sequence[str] | None = None,
    query_label: str = "",
) -> go.Figure:
    """One query's exact and approximate attention over the keys."""
    x = _labels(key_tokens, 1, len(exact_row)) or list(range(len(exact_row)))
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=x,
            y=exact_row.astype(np.float32),
            name="exact P",
            marker_color=PALETTE[0],
            opacity=0.75,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=approx_row.astype(np.float32),
            name="approximate P̂",
            mode="lines+markers",
            line={"color": PALETTE[1]},
        )
    )
    fig.add_hline(y=0, line={"color": "#444", "width": 1})
    fig.update_layout(
        title=f"Attention of query {query_label}",
        height=320,
        xaxis_title="key",
        yaxis_title="weight",
        barmode="overlay",
        margin={"t": 50, "l": 10, "r": 10},
    )
    return fig
