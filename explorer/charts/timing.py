"""Time and peak memory vs L (log-log): exact vs linear attention, crossover marked.

Input: a table of benchmark rows (``explorer.bench.run``: method, seq_len, causal, seconds,
peak_bytes). Reference slopes O(L²) and O(L) are anchored at the shortest length of sdpa/naive
and favor, so the measured curves can be read against the theory (Performer Fig. 3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.charts.style import PALETTE, THEORY_STYLE, finished

METHOD_STYLE = {
    "sdpa": ("exact: torch SDPA", PALETTE[0], "solid"),
    "naive": ("exact: materialising L×L", PALETTE[3], "dot"),
    "favor": ("FAVOR+ (ours)", PALETTE[1], "solid"),
    "performer_pytorch": ("performer-pytorch FastAttention", PALETTE[4], "dash"),
    "roofline": ("FAVOR+ roofline (bare products)", PALETTE[2], "dot"),
}


def _slope(lengths: np.ndarray, anchor: float, power: int) -> np.ndarray:
    return anchor * (lengths / lengths[0]) ** power


@finished
def timing_chart(
    table: pd.DataFrame, *, crossover: float | None = None, title: str = ""
) -> go.Figure:
    """Seconds and peak memory vs L per method, with L² and L reference slopes."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("time per forward pass (s)", "peak memory (MB)")
    )
    for method, group in table.groupby("method", sort=False):
        label, colour, dash = METHOD_STYLE.get(str(method), (str(method), "#555", "solid"))
        group = group.sort_values("seq_len")
        for col, column, scale in ((1, "seconds", 1.0), (2, "peak_bytes", 2.0**-20)):
            values = group[column].astype(float) * scale
            keep = values.notna().to_numpy()
            if not keep.any():
                continue
            fig.add_trace(
                go.Scatter(
                    x=group.seq_len[keep].astype(np.float32),
                    y=values[keep].astype(np.float32),
                    mode="lines+markers",
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1,
                    line={"color": colour, "dash": dash},
                ),
                1,
                col,
            )
    lengths = np.sort(table.seq_len.unique()).astype(np.float64)
    timed = table.dropna(subset=["seconds"])
    for method, power, name in (("sdpa", 2, "∝ L² (exact)"), ("favor", 1, "∝ L (linear)")):
        first = timed[timed.method == method].sort_values("seq_len")
        if len(first) and len(lengths) > 1:
            start = float(first.seq_len.iloc[0])
            xs = lengths[lengths >= start]
            fig.add_trace(
                go.Scatter(
                    x=xs.astype(np.float32),
                    y=_slope(xs, float(first.seconds.iloc[0]), power).astype(np.float32),
                    mode="lines",
                    name=name,
                    line=THEORY_STYLE,
                    opacity=0.6,
                ),
                1,
                1,
            )
    if crossover:
        fig.add_vline(
            x=crossover,
            line={"dash": "dash", "color": "#888"},
            row=1,
            col=1,
            annotation_text=f"crossover ≈ {crossover:,.0f}",
        )
    fig.update_xaxes(type="log", title="sequence length L")
    fig.update_yaxes(type="log")
    fig.update_layout(
        title=title,
        height=420,
        margin={"t": 70, "l": 10, "r": 10},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
