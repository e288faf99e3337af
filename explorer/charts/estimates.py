"""What an estimator estimates: closed-form target as a line, seeded Monte Carlo as points.

Input: the table of ``theory.montecarlo_curves.regularized_ratio_curve`` (rows of norm √d, SMREG).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from explorer.charts.style import BASELINE_STYLE, PALETTE, f32, finished


@finished
def regularized_kernel_chart(table: pd.DataFrame, *, title: str) -> go.Figure:
    """φ(x)·φ(y)/exp(x·y) vs |x + y|: SMREG's closed form, and Monte Carlo for both norms."""
    x = f32(table["sum_norm"])
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x, y=[1.0] * len(x), mode="lines", name="exp(x·y): softmax", line=BASELINE_STYLE
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=f32(table["theory"]),
            mode="lines",
            name="SMREG closed form e^{−|x+y|²/2}·₀F₁(; d/2; d|x+y|²/4)",
            line={"color": PALETTE[1]},
        )
    )
    for column, se, name, colour in (
        ("mc", "mc_se", "rows of norm √d (fixed_norm): Monte Carlo", PALETTE[1]),
        ("gaussian_mc", "gaussian_se", "chi(d) norms (orthogonal): Monte Carlo", PALETTE[0]),
    ):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=f32(table[column]),
                mode="markers",
                name=name,
                marker={"color": colour, "symbol": "circle-open", "size": 8},
                error_y={"type": "data", "array": f32(2 * table[se]), "thickness": 1},
            )
        )
    fig.update_xaxes(title_text="|x + y|")
    fig.update_yaxes(title_text="E[φ(x)·φ(y)] / exp(x·y)")
    fig.update_layout(title=title, height=420, margin={"t": 70, "l": 10, "r": 10})
    return fig
