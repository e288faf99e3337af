"""In-the-model charts: a measure against the swapped layers, with the uniform swap's line.

Input: ``swap_frame`` of ``SwapResult.to_dict()`` results (one row per result and step). x is
the number of swapped layers k for the ``first`` schedule (Performer Fig. 14) and the layer's
index for ``each``; every curve is the mean ± std over seeds, the dashed grey line the uniform
swap of the same layers (attention that has learnt nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd
import plotly.graph_objects as go

from explorer.charts.scaling import map_colour
from explorer.charts.style import BASELINE_STYLE, f32, finished
from explorer.untrusted import for_html

MEASURE_LABELS = {
    "hidden_relative_error": "relative error of the final hidden states ‖Ĥ−H‖/‖H‖",
    "embedding_cosine": "cosine of the sentence embeddings cos(ê, e)",
    "pair_spearman": "Spearman ρ of the sentence pairs' similarities",
    "next_token_kl": "KL(exact ‖ approximate) of next-token distributions (nats)",
    "top1_agreement": "top-1 next-token agreement",
}
DASHES = ("solid", "dash", "dot", "dashdot")


def swap_frame(results: Iterable[Mapping]) -> pd.DataFrame:
    """One row per (result, step): the step's measures and what produced them."""
    rows = []
    for result in results:
        for step in result["steps"]:
            layers = step["layers"]
            x = len(layers) if result["schedule"] == "first" else layers[0]
            rows.append(
                {
                    "model": result["model"],
                    "feature_map": result["feature_map"],
                    "num_features": result["num_features"],
                    "projection": result["projection"],
                    "schedule": result["schedule"],
                    "x": x,
                    "layers": " ".join(map(str, layers)),
                    "seeds": len(result["seeds"]),
                    **{k: v for k, v in step.items() if k != "layers"},
                }
            )
    return pd.DataFrame(rows)


def x_label(schedule: str) -> str:
    if schedule == "first":
        return "number of swapped layers k (the first k)"
    if schedule == "each":
        return "the one swapped layer"
    return "all layers swapped"


@finished
def drift_chart(frame: pd.DataFrame, measure: str, *, title: str = "") -> go.Figure:
    """Mean ± std of ``measure`` per (map, m) against the swapped layers, and the uniform line."""
    fig = go.Figure()
    ms = list(dict.fromkeys(frame["num_features"]))
    for (name, m), group in frame.groupby(["feature_map", "num_features"], sort=False):
        fig.add_trace(
            go.Scatter(
                x=group["x"].tolist(),
                y=f32(group[measure].astype(float)),
                error_y={
                    "type": "data",
                    "array": f32(group[f"{measure}_std"].astype(float)),
                    "thickness": 1,
                    "width": 3,
                },  # fmt: skip
                mode="lines+markers",
                name=f"{name}, m = {m}" if name not in ("exact", "uniform") else name,
                line={"color": map_colour(name), "dash": DASHES[ms.index(m) % len(DASHES)]},
            )
        )
    baseline = frame.drop_duplicates("x")
    fig.add_trace(
        go.Scatter(
            x=baseline["x"].tolist(),
            y=f32(baseline[f"uniform_{measure}"].astype(float)),
            mode="lines+markers",
            name="uniform attention",
            line=BASELINE_STYLE,
        )
    )
    schedule = str(frame["schedule"].iloc[0]) if len(frame) else "first"
    fig.update_layout(
        title=for_html(title),
        xaxis_title=x_label(schedule),
        yaxis_title=MEASURE_LABELS.get(measure, measure),
        legend_title_text="replacement",
        margin={"t": 50 if title else 20},
    )
    fig.update_xaxes(dtick=1)
    return fig
