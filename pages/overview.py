"""Overview: what the tool shows, and a live headline comparison on the current data."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer import ui
from explorer.charts.heatmaps import attention_heatmaps
from explorer.experiments.reading import read_comparison

ui.run_from_app()  # first: a page opened on its own (a deep link) runs app.py instead

st.title("Attention Approximation Explorer")
st.markdown(
    "Softmax attention compares every query with every key, which costs **O(L²)**. "
    "Performers replace the kernel exp(q·k/√d) by a dot product of **m random features** "
    "φ(q)·φ(k), which makes attention **linear in L** but only approximate. "
    "This tool measures that approximation on real and synthetic attention, next to the "
    "theory that predicts it."
)
settings = ui.settings()
with ui.errors_as_messages():
    data = ui.current_data(settings)
    result = ui.comparison(settings, data)

m = result.metrics
config = result.config
reading = read_comparison(result)
cols = st.columns(5)
cols[0].metric(
    "Output relative error ‖Ŷ−Y‖/‖Y‖",
    ui.fmt(m.output_relative_error),
    help="How far the approximate attention output is from the exact one.",
)
cols[1].metric(
    "Uniform-attention baseline",
    ui.fmt(m.uniform_baseline_error),
    help="The same error if every query simply averaged all values. An "
    "approximation above this line has learnt nothing about the attention.",
)
cols[2].metric("Attention-matrix error ‖P̂−P‖/‖P‖", ui.fmt(m.weights_relative_error))
cols[3].metric(
    "Mean |x + y|²",
    ui.fmt(float(result.statistics.mean_pair_sq_sum.mean())),
    help="x = q·d^(-1/4), y = k·d^(-1/4). Positive features have relative variance "
    "(e^{|x+y|²} − 1)/m per kernel value: this number predicts the difficulty.",
)
cols[4].metric(
    "Skill vs uniform",
    f"{reading.skill:+.2f}",
    help="1 − error / baseline: 1 is exact, 0 no better than uniform attention, below 0 worse.",
)
st.markdown(
    f"**Reading.** {reading.sentence.capitalize()}. {reading.regime_sentence.capitalize()}."
)
st.caption(
    f"{ui.escape_markdown(data.description)}. {config.feature_map} features, "
    f"m = {config.num_features}, {config.projection} projection, seed {config.seed}. "
    f"What they estimate: {result.estimates.summary}."
)
if (fitted := ui.fit_note(result)) is not None:
    st.info(fitted, icon=":material/model_training:")
if (problems := ui.diagnostics(result)) is not None:
    st.warning(problems, icon=":material/warning:")
head = 0
tokens = result.query_tokens
fig = attention_heatmaps(
    result.maps,
    head,
    query_tokens=tokens,
    key_tokens=result.key_tokens,
    title=f"Head {settings.head if settings.head is not None else 0}",
)
summary = pd.DataFrame(
    [
        {
            "data": data.description,
            "feature_map": config.feature_map,
            "num_features": config.num_features,
            "projection": config.projection,
            "seed": config.seed,
            "output_relative_error": m.output_relative_error,
            "uniform_baseline_error": m.uniform_baseline_error,
            "weights_relative_error": m.weights_relative_error,
            "mean_pair_sq_sum": float(result.statistics.mean_pair_sq_sum.mean()),
        }
    ]
)
ui.chart(fig, "overview_maps", table=summary, name="overview")

st.subheader("Explore")
links = st.columns(3)
links[0].page_link(
    "pages/data.py", label="Data: what the inputs look like", icon=":material/dataset:"
)
links[1].page_link(
    "pages/attention_maps.py", label="Attention maps, head by head", icon=":material/grid_on:"
)
links[2].page_link(
    "pages/error_distributions.py",
    label="Error distributions and redraws",
    icon=":material/bar_chart:",
)
