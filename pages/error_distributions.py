"""Error distributions: per entry, per row, and across redraws of the random features."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer import ui
from explorer.charts.errors import ecdf, error_histogram, seed_spread
from explorer.charts.recipes import recipe_bars
from explorer.experiments.recipes import RECIPE_HEADERS
from explorer.kernels.feature_maps import FEATURE_MAPS

ui.run_from_app()  # first: a page opened on its own (a deep link) runs app.py instead

st.title("Error distributions")
st.markdown(
    "One number hides a lot. These charts show **where** the approximation errs: in which "
    "entries of the attention matrix, in which query rows, and how much the error changes when "
    "the random features are **redrawn** (a new seed). The dashed line is always the "
    "uniform-attention baseline: an approximation above it has learnt nothing."
)
settings = ui.settings()
with ui.errors_as_messages():
    data = ui.current_data(settings)
    result = ui.comparison(settings, data)
m = result.metrics

st.subheader("Entries of the attention matrix")
left, right = st.columns(2)
with left:
    fig = error_histogram(
        m.entry_error_sample, title="P̂ − P, sampled entries", x_title="P̂_ij − P_ij", log_y=True
    )
    entries = pd.DataFrame({"entry_error": m.entry_error_sample.ravel()})
    ui.chart(fig, "err_entries", table=entries, name="entry_errors")
with right:
    fig_cdf = ecdf(
        m.entry_error_sample,
        title="How many entries are within a tolerance",
        x_title="|P̂_ij − P_ij|",
    )
    ui.chart(fig_cdf, "err_ecdf", table=entries, name="entry_errors_ecdf")
st.caption(
    f"Max |P̂ − P| = {ui.fmt(m.max_abs_error)}. Relative per-entry errors are not "
    "shown: they explode on tiny weights and say little about the output."
)

st.subheader("Query rows")
rows = pd.DataFrame({"row_tv": m.row_tv.ravel(), "row_kl": m.row_kl.ravel()})
left, right = st.columns(2)
with left:
    fig_tv = error_histogram(
        m.row_tv,
        title="Total variation per query row",
        x_title="½ Σ_j |P̂_ij − P_ij|",
        baseline=m.uniform_row_tv_mean,
    )
    ui.chart(fig_tv, "err_tv", table=rows, name="row_errors")
with right:
    fig_kl = error_histogram(
        m.row_kl,
        title="KL(P_i ‖ P̂_i) per query row",
        x_title="KL (nats)",
        baseline=m.uniform_row_kl_mean,
    )
    ui.chart(fig_kl, "err_kl", table=rows, name="row_kl")
st.caption(ui.row_coverage(m))
if (fitted := ui.fit_note(result)) is not None:
    st.caption(fitted)

st.subheader("Across redraws of the features")
st.caption(
    "Each point is one seed: the same data, freshly drawn random features. The spread "
    "is what a Performer layer's output would vary by between redraws. The × is the "
    "closed-form (delta-method) prediction for positive features, where it is valid."
)
c1, c2 = st.columns([3, 1])
maps = c1.multiselect(
    "Feature maps",
    list(FEATURE_MAPS),
    default=["positive", "trig", "hyperbolic", "oprf"],
    format_func=lambda n: FEATURE_MAPS[n].label,
    key="err_maps",
)
seeds = c2.slider("Seeds", 2, 32, 8, key="err_seeds")
if not maps:
    st.info("Choose at least one feature map.")
    st.stop()
metric = (
    "output_relative_error" if m.output_relative_error is not None else ("weights_relative_error")
)
with ui.errors_as_messages():
    table = ui.sweep_table(
        settings, data, {"feature_map": maps}, range(seeds), name="err_seeds", what="the redraws"
    )
    if table is None:  # cancelled: a note and a Run button instead; nothing below waits
        st.stop()
    predicted = {}
    if "positive" in maps and metric == "output_relative_error":
        guess = ui.prediction(settings, data)
        if guess is not None and guess.valid and settings.config.projection == "iid":
            predicted["positive"] = guess.predicted_relative_error
        elif guess is not None and not guess.valid:
            st.caption(
                "The delta-method prediction is not shown: the normaliser's relative "
                "variance is too large here, where the first-order formula over-predicts."
            )
fig_seeds = seed_spread(table, metric=metric, predicted=predicted)
ui.chart(fig_seeds, "err_seeds_chart", table=table, name="seed_spread")

st.subheader("The peers' recipes")
st.caption(
    "The same inputs and m under what users of the popular implementations get: "
    "google-research's performer (ε = 10⁻⁶ after the exp, W seeded by the queries), "
    "performer-pytorch 1.1.4 (ε = 10⁻⁴ after the exp) and fast-transformers' Favor (no "
    "stabiliser), all with plain QR (no sign fix), against this project's own. Every number "
    "covers all heads × query rows of the current input; each recipe's kernel is in the table."
)
recipe_seeds = st.slider("Seeds per recipe", 2, 8, 4, key="recipe_seeds")
with ui.errors_as_messages():
    if m.output_relative_error is None:
        st.info("Comparing recipes needs values V: their outputs are compared.")
    else:
        recipes = ui.recipes_table(settings, data, seeds=recipe_seeds)
        if recipes is None:  # cancelled: a note and a Run button instead
            st.stop()
        ui.chart(recipe_bars(recipes), "recipes_chart", table=recipes, name="recipes")
        st.dataframe(
            recipes.drop(columns=["label"]).rename(columns=RECIPE_HEADERS),
            hide_index=True,
            key="recipes_table",
        )
st.caption(
    "‖Ŷ − uniform‖/‖Y‖ near 0 means the output collapsed to uniform attention (the "
    "exact output sits at the uniform baseline). Seed-mean error: ‖mean over seeds of Ŷ − Y‖"
    "/‖Y‖, bias plus noise that shrinks as 1/√seeds. Distinct W: 1 when the seed does not move "
    "W (google redraws from the data)."
)
