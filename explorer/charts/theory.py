"""Theory charts: closed forms as lines, seeded Monte Carlo as points with standard errors.

Inputs are the plain tables of ``theory.montecarlo`` and ``experiments.summaries``; the
ratio map takes the grid of ``theory.trig_positive_ratio`` (Performer Fig. 2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.charts.scaling import map_colour
from explorer.charts.style import BASELINE_STYLE, PALETTE, f32, finished

LOG10_RATIO_CLIP = 6.0  # colour range of log10 r: ratios beyond 10^±6 share the end colours


def _theory_and_mc(fig, table, x, name, colour, *, row, col, showlegend) -> None:
    fig.add_trace(
        go.Scatter(
            x=f32(table[x]),
            y=f32(table["theory"]),
            mode="lines",
            name=f"{name}: theory",
            line={"color": colour},
            legendgroup=name,
            showlegend=showlegend,
        ),
        row,
        col,
    )
    fig.add_trace(
        go.Scatter(
            x=f32(table[x]),
            y=f32(table["mc"]),
            mode="markers",
            name=f"{name}: Monte Carlo",
            marker={"color": colour, "symbol": "circle-open", "size": 8},
            error_y={"type": "data", "array": f32(2 * table["mc_se"]), "thickness": 1},
            legendgroup=name,
            showlegend=showlegend,
        ),
        row,
        col,
    )


@finished
def relative_mse_chart(by_sum: pd.DataFrame, by_diff: pd.DataFrame, *, title: str) -> go.Figure:
    """Relative MSE vs |x+y| (left) and vs |x−y| (right): lines closed form, points ± 2 SE MC."""
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.08,
        subplot_titles=(
            f"vs |x + y| at |x − y| = {by_sum['diff_norm'].iloc[0]:.2g}",
            f"vs |x − y| at |x + y| = {by_diff['sum_norm'].iloc[0]:.2g}",
        ),
    )
    for name in dict.fromkeys(by_sum["feature_map"]):
        colour = map_colour(name)
        for col, (table, x) in enumerate(((by_sum, "sum_norm"), (by_diff, "diff_norm")), 1):
            rows = table[table["feature_map"] == name]
            _theory_and_mc(fig, rows, x, name, colour, row=1, col=col, showlegend=col == 1)
    fig.update_xaxes(title_text="|x + y|", row=1, col=1)
    fig.update_xaxes(title_text="|x − y|", row=1, col=2)
    fig.update_yaxes(type="log", title_text="relative MSE  E(ŜM − SM)²/SM²", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(title=title, height=440, margin={"t": 80, "l": 10, "r": 10})
    return fig


@finished
def ratio_map_chart(
    angles: np.ndarray,
    lengths: np.ndarray,
    ratio: np.ndarray,
    *,
    slice_length: float,
    slice_curve: pd.DataFrame,
    slice_mc: pd.DataFrame | None = None,
    title: str = "",
) -> go.Figure:
    """log10 r(φ, l) over angle × length (left) and the slice at one length (right).

    ``ratio`` has shape (len(lengths), len(angles)); ``slice_curve`` (angle, theory) is the
    closed form on the slice and ``slice_mc`` (angle, mc) adds Monte Carlo points to it.
    r > 1 (red): positive features win; r < 1 (blue): trig features win.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.clip(
            np.log10(np.asarray(ratio, dtype=np.float64)), -LOG10_RATIO_CLIP, LOG10_RATIO_CLIP
        )
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.55, 0.45],
        horizontal_spacing=0.22,  # room for the colour bar between the panels
        subplot_titles=("log10 r(φ, l) = log10 MSE_trig/MSE_pos", f"slice at l = {slice_length:g}"),
    )
    fig.add_trace(
        go.Heatmap(
            x=f32(angles),
            y=f32(lengths),
            z=f32(z),
            colorscale="RdBu_r",
            zmid=0.0,
            zmin=-LOG10_RATIO_CLIP,
            zmax=LOG10_RATIO_CLIP,
            colorbar={
                "title": "log10 r",
                "x": 0.45,
                "xanchor": "left",
                "len": 0.9,
                "thickness": 12,
            },
            hovertemplate="φ = %{x:.3f}<br>l = %{y:.3f}<br>log10 r = %{z:.3g}<extra></extra>",
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Scatter(
            x=f32(slice_curve["angle"]),
            y=f32(slice_curve["theory"]),
            mode="lines",
            name="r: closed form",
            line={"color": PALETTE[0]},
        ),
        1,
        2,
    )
    if slice_mc is not None:
        fig.add_trace(
            go.Scatter(
                x=f32(slice_mc["angle"]),
                y=f32(slice_mc["mc"]),
                mode="markers",
                name="r: Monte Carlo",
                marker={"color": PALETTE[1], "symbol": "circle-open", "size": 9},
            ),
            1,
            2,
        )
    fig.add_hline(y=1.0, line=BASELINE_STYLE, row=1, col=2)
    fig.update_xaxes(title_text="angle φ (radians)", row=1, col=1)
    fig.update_xaxes(title_text="angle φ (radians)", row=1, col=2)
    fig.update_yaxes(title_text="length l = |x| = |y|", row=1, col=1)
    fig.update_yaxes(
        type="log",
        title_text="r = MSE_trig/MSE_pos",
        range=[-LOG10_RATIO_CLIP, LOG10_RATIO_CLIP],  # the heatmap's range; r → 0 at φ = 0
        row=1,
        col=2,
    )
    fig.update_layout(
        title=title or "Trig vs positive features (Performer Fig. 2)",
        height=460,
        margin={"t": 80, "l": 10, "r": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


@finished
def orthogonal_gain_chart(table: pd.DataFrame, *, title: str) -> go.Figure:
    """Relative MSE vs m ≤ d (left) and orthogonal/iid (right): Theorem 2's bound, MC of both.

    The right panel divides by the iid closed form, so only the orthogonal draws add noise.
    """
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=("relative MSE", "orthogonal / iid (below 1: a gain)"),
    )
    m = f32(table["num_features"])
    iid = table["iid_theory"].to_numpy()
    lines = (
        ("iid: Lemma 2", table["iid_theory"], iid / iid, {"color": PALETTE[0]}),
        ("orthogonal: Theorem 2 bound", table["orthogonal_bound"], table["orthogonal_bound"] / iid,
         {"color": PALETTE[2], "dash": "dash"}),
    )  # fmt: skip
    for name, left, right, line in lines:
        for col, y in ((1, left), (2, right)):
            fig.add_trace(
                go.Scatter(x=m, y=f32(y), mode="lines", name=name, line=line,
                           legendgroup=name, showlegend=col == 1),
                1,
                col,
            )  # fmt: skip
    for kind, colour in (("iid", PALETTE[0]), ("orthogonal", PALETTE[2])):
        for col, scale in ((1, 1.0), (2, iid)):
            fig.add_trace(
                go.Scatter(
                    x=m, y=f32(table[f"{kind}_mc"] / scale), mode="markers",
                    name=f"{kind}: Monte Carlo", legendgroup=kind, showlegend=col == 1,
                    marker={"color": colour, "symbol": "circle-open", "size": 9},
                    error_y={"type": "data", "array": f32(2 * table[f"{kind}_se"] / scale),
                             "thickness": 1},
                ),
                1,
                col,
            )  # fmt: skip
    fig.update_xaxes(type="log", title_text="m (≤ d)")
    fig.update_yaxes(type="log", title_text="relative MSE of positive features", row=1, col=1)
    fig.update_layout(title=title, height=400, margin={"t": 70, "l": 10, "r": 10})
    return fig


@finished
def saderf_imbalance_chart(table: pd.DataFrame, *, title: str) -> go.Figure:
    """Relative MSE of OPRF and FAVOR# vs |y|/|x| (log axes): lines closed form, points MC."""
    fig = make_subplots(rows=1, cols=1)
    for name in dict.fromkeys(table["feature_map"]):
        rows = table[table["feature_map"] == name]
        _theory_and_mc(fig, rows, "ratio", name, map_colour(name), row=1, col=1, showlegend=True)
    fig.update_xaxes(type="log", title_text="|y| / |x|  (x·y fixed)")
    fig.update_yaxes(type="log", title_text="relative MSE  E(ŜM − SM)²/SM²")
    fig.update_layout(title=title, height=400, margin={"t": 60, "l": 10, "r": 10})
    return fig
