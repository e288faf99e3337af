"""Scaling: the error against m, against the input scale, and the paper's figures."""

from __future__ import annotations

import streamlit as st

from explorer import ui
from explorer.charts.scaling import error_vs_m, error_vs_scale
from explorer.charts.timing import timing_chart
from explorer.experiments.config import resolve_softmax
from explorer.experiments.summaries import (
    INPUT_SCALES,
    best_at,
    breakdown,
    delta_method_curve,
    error_metric,
    error_ratio,
    seed_summary,
    smallest_valid_m,
    softmax_scales,
    with_temperature,
)
from explorer.figures.presets import FIGURES
from explorer.kernels.feature_maps import FEATURE_MAPS
from explorer.kernels.projections import PROJECTIONS
from explorer.ui.sidebar import FEATURE_COUNTS

ui.run_from_app()  # first: a page opened on its own (a deep link) runs app.py instead

LABELS = {
    "output_relative_error": "output relative error ‖Ŷ−Y‖/‖Y‖",
    "weights_relative_error": "attention-matrix error ‖P̂−P‖/‖P‖",
}

st.title("Scaling")
st.markdown(
    "How fast does the error fall as you pay for more random features, and when does no "
    "number of features help? Every point is the mean over seeds (redraws of the features) "
    "with its standard deviation; the dashed line is the uniform-attention baseline."
)
settings = ui.settings()
config = settings.config
with ui.errors_as_messages():
    data = ui.current_data(settings)
head_dim = data.inputs.head_dim if data.inputs is not None else config.head_dim
st.caption(
    f"Data: {ui.escape_markdown(data.description)}. Softmax: "
    f"{resolve_softmax(config, data.inputs).label}."
)


def label(name: str) -> str:
    return FEATURE_MAPS[name].label


st.subheader("Error vs number of random features m")
c1, c2, c3, c4 = st.columns([3, 2, 3, 1])
maps = c1.multiselect(
    "Feature maps", list(FEATURE_MAPS), ["positive", "trig"], format_func=label, key="sc_maps"
)
projections = c2.multiselect("Projections", list(PROJECTIONS), [config.projection], key="sc_projs")
low, high = c3.select_slider("Range of m", FEATURE_COUNTS, (4, 1024), key="sc_m")
seeds = c4.slider("Seeds", 2, 16, 4, key="sc_seeds")
show_theory = st.toggle(
    "Closed-form prediction (delta method, positive features with iid rows)", True, key="sc_pred"
)
ms = [m for m in FEATURE_COUNTS if low <= m <= high]
if not maps or not projections:
    st.info("Choose at least one feature map and one projection.")
else:
    axes = {"feature_map": maps, "projection": projections, "num_features": ms}
    with ui.errors_as_messages():
        table = ui.sweep_table(settings, data, axes, range(seeds), name="sc_m", what="the m sweep")
    if table is not None:  # None: cancelled, a note and a Run button instead
        metric = error_metric(table)
        by = ("feature_map", "projection")
        summary = seed_summary(table, x="num_features", by=by, metric=metric)
        curve = None
        if show_theory and "positive" in maps and metric == "output_relative_error":
            guess = ui.prediction(settings, data)
            if guess is None:
                st.caption("No prediction: it needs V and at most 2048 keys.")
            else:
                curve = delta_method_curve(guess, reference_m=config.num_features, ms=ms)
                first = smallest_valid_m(curve)
                st.caption(
                    "The delta method (theory notes §2.9) is first order in 1/m: it is drawn only "
                    "where the normaliser's relative variance is below 0.1, "
                    + (f"here from m = {first} on." if first else "which is nowhere in this range.")
                )
        fig_m = error_vs_m(summary, metric_label=LABELS[metric], prediction=curve)
        ui.chart(fig_m, "sc_m_chart", table=table, name="error_vs_m")
        st.caption(
            f"{len(table)} runs ({len(ms)} values of m × {seeds} seeds per curve). The dotted grey "
            "line is the m^(-1/2) law of a Monte Carlo average: curves flatter than it are in the "
            "heavy-tailed regime, where the error falls slower until m passes about exp(|x+y|²)."
        )

synthetic = data.inputs is None  # drawn from the config: σ is a sweep axis (else: one head)
st.subheader("Error vs input scale σ" if synthetic else "Error vs temperature")
st.markdown(
    "Larger inputs make attention peakier and |x + y|² larger. Positive features lose "
    "accuracy as exp(|x+y|²); trigonometric ones as exp(|x−y|²) and through normalisers that "
    "cross zero, so they fail on the many small kernel values of peaky attention "
    "(Performer Fig. 2). FAVOR++ (oprf) fits A* to the data and trades that exponential "
    "growth for a polynomial one."
    + ("" if synthetic else " On fixed data the scale is a temperature τ: softmax_scale = τ/√d.")
)
c1, c2, c3 = st.columns([3, 2, 1])
scale_maps = c1.multiselect(
    "Feature maps",
    list(FEATURE_MAPS),
    ["positive", "trig", "oprf"],
    format_func=label,
    key="sc_scale_maps",
)
projection = c2.selectbox(
    "Projection",
    list(PROJECTIONS),
    list(PROJECTIONS).index(config.projection),
    key="sc_scale_proj",
)
scale_seeds = c3.slider("Seeds", 1, 8, 2, key="sc_scale_seeds")
if synthetic:  # the sidebar's generator and data seed, at each σ
    axis, x, x_title = "input_scale", "input_scale", "input scale σ"
    values = list(INPUT_SCALES)
else:
    axis, x, x_title = "softmax_scale", "temperature", "temperature τ (× 1/√d)"
    values = softmax_scales(head_dim)
if not scale_maps:
    st.info("Choose at least one feature map.")
else:
    axes = {"feature_map": scale_maps, "projection": [projection], axis: values}
    with ui.errors_as_messages():
        scale_table = ui.sweep_table(
            settings, data, axes, range(scale_seeds), name="sc_scale", what="the scale sweep"
        )
    if scale_table is not None:
        if not synthetic:
            scale_table = with_temperature(scale_table, head_dim)
        metric = error_metric(scale_table)
        scale_summary = seed_summary(scale_table, x=x, by=("feature_map",), metric=metric)
        points = breakdown(scale_summary, x=x)
        fig_s = error_vs_scale(
            scale_summary, x=x, x_title=x_title, metric_label=LABELS[metric], breakdowns=points
        )
        ui.chart(fig_s, "sc_scale_chart", table=scale_table, name="error_vs_scale")
        symbol = "σ" if synthetic else "τ"
        broken = [f"{name} from {symbol} = {p:g}" for name, p in points.items() if p is not None]
        kept = [name for name, p in points.items() if p is None]
        smallest, largest = (
            best_at(scale_summary, x=x, value=f(scale_summary[x])) for f in (min, max)
        )
        st.caption(
            f"At m = {config.num_features} ({projection}), {scale_seeds} seed(s) per point. "
            + ("At or above the uniform baseline: " + "; ".join(broken) + ". " if broken else "")
            + (f"Below it up to the largest {symbol}: {', '.join(kept)}. " if kept else "")
            + f"Lowest error at the smallest {symbol}: {smallest}; at the largest: {largest}."
        )
        if {"oprf", "positive"} <= set(scale_maps):
            ratio = error_ratio(scale_summary, x=x, numerator="oprf", denominator="positive")
            st.caption(
                f"FAVOR++ (oprf) over FAVOR+ (positive): error × {ratio.min():.2f} at best "
                f"({symbol} = {ratio.idxmin():g}), × {ratio.iloc[-1]:.2f} at the largest {symbol}. "
                "For one kernel value the closed forms promise a gain exponential in |x+y|²; the "
                "output error shows what is left of it after normalisation."
            )

st.subheader("Paper figures")
st.markdown(
    "Presets that reproduce the shape of the Performer paper's figures on this machine. The "
    "same tables and files come from `python -m explorer figure NAME --out DIR`."
)
size = st.radio(
    "Size",
    ["quick", "paper"],
    horizontal=True,
    key="sc_paper_size",
    help="paper: the paper's sizes (Fig. 4 takes about a minute on 2 CPU cores); quick: a "
    "small version that runs in seconds.",
)
buttons = st.columns(len(FIGURES))
for column, (name, preset) in zip(buttons, FIGURES.items(), strict=True):
    if column.button(preset.title.split(":")[0], key=f"sc_paper_{name}", help=preset.source):
        st.session_state[f"sc_show_{name}"] = True
for name, preset in FIGURES.items():
    if not st.session_state.get(f"sc_show_{name}"):
        continue
    with ui.errors_as_messages():
        paper_table = ui.figure_table(name, size)
    if paper_table is None:  # cancelled
        continue
    fig_p = preset.build(paper_table)
    ui.chart(fig_p, f"sc_paper_{name}_chart", table=paper_table, name=f"{name}_{size}")
    st.caption(f"{preset.source}. {preset.notes}")


st.subheader("Time and peak memory vs L")
st.markdown(
    "Exact attention costs O(L²) time; linear attention O(L·m). Measured here on "
    f"**{settings.config.device}** (B = 1, H = 8, d = 64, m = 256, float32), each point the "
    "median of repeats: exact via torch SDPA (which never materialises L×L), exact "
    "materialising L×L, our FAVOR+, performer-pytorch (where installed) and FAVOR+'s "
    "roofline (its bare matrix products). The dotted lines are the L² and L slopes."
)
t1, t2, t3 = st.columns(3)
timing_size = t1.radio(
    "Lengths",
    ["quick", "paper"],
    horizontal=True,
    key="sc_time_size",
    help="quick: L = 128 … 2048 (seconds); paper: L = 512 … 16384 (minutes).",
)
timing_causal = t2.toggle("Causal", False, key="sc_time_causal")
timing_memory = t3.toggle(
    "Measure peak memory",
    False,
    key="sc_time_memory",
    help="A fresh process per point on the CPU: slower.",
)
if st.button("Measure time vs L", key="sc_time_run"):
    st.session_state["sc_time_show"] = True
if st.session_state.get("sc_time_show"):
    from explorer.device import resolve_device
    from explorer.figures.speed import fig3_crossover

    with ui.errors_as_messages():
        device = str(resolve_device(settings.config.device))
        timing = ui.timing_table(timing_size, device, causal=timing_causal, memory=timing_memory)
    if timing is None:  # cancelled: the last section, nothing below waits
        st.stop()
    crossing = fig3_crossover(timing, causal=timing_causal)
    fig_t = timing_chart(
        timing,
        crossover=crossing,
        title=f"{'causal' if timing_causal else 'non-causal'} forward on {device}",
    )
    ui.chart(fig_t, "sc_time_chart", table=timing, name="time_vs_length")
    skipped = timing[timing.note.fillna("") != ""]
    for _, row in skipped.drop_duplicates("note").iterrows():
        st.caption(f"{row.method} at L = {row.seq_len:,}: {row.note}")
    st.caption(
        f"FAVOR+ is faster than SDPA from L ≈ {crossing:,.0f}."
        if crossing
        else "FAVOR+ was not faster than SDPA at any length measured here."
    )
