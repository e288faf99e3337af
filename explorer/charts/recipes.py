"""The recipes side by side: output error (mean ± std over seeds) and distance to uniform."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from explorer.charts.style import BASELINE_STYLE, PALETTE, f32, finished


@finished
def recipe_bars(table: pd.DataFrame) -> go.Figure:
    """Bars of ‖Ŷ − Y‖/‖Y‖ (± std over seeds) and of ‖Ŷ − U‖/‖Y‖ per recipe.

    The dashed line is the uniform baseline ‖U − Y‖/‖Y‖, where the exact output's distance
    to uniform also sits: a recipe whose second bar falls to 0 has collapsed to uniform.
    """
    names = [str(n) for n in table["recipe"]]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=names,
            y=f32(table["output_error_mean"]),
            error_y={"type": "data", "array": f32(table["output_error_std"])},
            name="‖Ŷ − Y‖/‖Y‖ (mean ± std over seeds)",
            marker_color=PALETTE[0],
        )
    )
    fig.add_trace(
        go.Bar(
            x=names,
            y=f32(table["distance_to_uniform"]),
            name="‖Ŷ − uniform‖/‖Y‖ (0: collapsed to uniform)",
            marker_color=PALETTE[1],
        )
    )
    baseline = np.asarray(table["uniform_baseline_error"], dtype=np.float64)
    if baseline.size and np.isfinite(baseline[0]):
        fig.add_hline(
            y=float(baseline[0]),
            line=BASELINE_STYLE,
            annotation_text="uniform baseline (= exact output's distance to uniform)",
        )
    seeds = int(table["seeds"].iloc[0]) if len(table) else 0
    fig.update_layout(
        title=f"What each implementation's users get, same inputs and m, {seeds} seeds",
        barmode="group",
        yaxis_title="relative to ‖Y‖",
        height=380,
        margin={"t": 60, "l": 10, "r": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig
