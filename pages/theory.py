"""Theory: the closed forms that predict the error, each checked live against Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from explorer import ui
from explorer.charts.estimates import regularized_kernel_chart
from explorer.charts.scaling import delta_method_chart
from explorer.charts.theory import (
    orthogonal_gain_chart,
    relative_mse_chart,
    saderf_imbalance_chart,
)
from explorer.experiments.summaries import delta_method_curve, error_metric, seed_summary
from explorer.figures.presets import fig2_figure

ui.run_from_app()  # first: a page opened on its own (a deep link) runs app.py instead

DRAWS = 1000  # Monte Carlo draws per point: seeded, small enough to recompute on every rerun

st.title("Theory")
st.markdown(
    "Random features estimate the softmax kernel SM(x, y) = exp(x·y), with x = q·d^(-1/4) and "
    "y = k·d^(-1/4). Their errors have closed forms; each chart draws the formula as a line and "
    f"a seeded Monte Carlo run of the real feature maps ({DRAWS} independent draws of W per "
    "point, ± 2 standard errors) as points, so you can see both the law and that the code obeys it."
)
settings = ui.settings()

st.subheader("Relative MSE of the kernel estimators")
st.latex(
    r"\frac{\mathrm{MSE}}{\mathrm{SM}^2}:\quad"
    r"\text{trig } \tfrac{2}{m}\sinh^2\!\tfrac{|x-y|^2}{2},\quad"
    r"\text{positive } \tfrac{1}{m}\big(e^{|x+y|^2}-1\big),\quad"
    r"\text{hyperbolic } \tfrac{2}{m}\sinh^2\!\tfrac{|x+y|^2}{2}"
)
st.latex(
    r"\text{oprf } \tfrac{1}{m}\Big(\big(\tfrac{(1-4A)^2}{1-8A}\big)^{d/2}"
    r"e^{|x+y|^2/(1-8A)}-1\Big),\quad A^*=\tfrac{1-2\phi-\sqrt{(2\phi+1)^2+8\phi}}{16},"
    r"\ \phi=\tfrac{|x+y|^2}{d}"
)
st.caption(
    "Sources: Performer (Choromanski et al. 2021) Lemma 2 for trig, positive and hyperbolic; "
    "FAVOR++ (Likhosherstov et al. 2022, Chefs' Random Tables) for OPRF with the optimal A*. "
    "Trig depends on |x − y| only, the others on |x + y| only: each panel holds one fixed."
)
c1, c2, c3, c4 = st.columns(4)
d = c1.selectbox("Head dim d", [4, 8, 16, 32, 64], 2, key="th_d")
m = c2.select_slider("m", [1, 2, 4, 8, 16, 32, 64, 128, 256], 16, key="th_m")
fixed_diff = c3.slider("|x − y| (left)", 0.0, 2.5, 1.0, 0.1, key="th_diff")
fixed_sum = c4.slider("|x + y| (right)", 0.0, 2.5, 1.0, 0.1, key="th_sum")
norms = tuple(np.round(np.linspace(0.1, 2.5, 7), 2))
with ui.errors_as_messages():
    common = {"values": norms, "head_dim": d, "num_features": m, "draws": DRAWS}
    by_sum = ui.monte_carlo("relative_mse_curves", vary="sum", fixed=fixed_diff, **common)
    by_diff = ui.monte_carlo(
        "relative_mse_curves", vary="diff", fixed=fixed_sum, seed=100, **common
    )
fig_mse = relative_mse_chart(by_sum, by_diff, title=f"Relative MSE with m = {m}, d = {d}")
mse_table = pd.concat([by_sum, by_diff], ignore_index=True)
ui.chart(fig_mse, "th_mse_chart", table=mse_table, name="relative_mse")
st.caption(
    "Past |x + y| ≈ 1.7 the positive estimator's error is heavy-tailed (log-normal-like): a "
    "finite Monte Carlo sample then usually falls below the true MSE, which is driven by rare "
    "huge draws. That, not a wrong formula, is why the points drop under the line there."
)

st.subheader("Trig or positive? The ratio map r(φ, l)")
st.latex(
    r"r(\varphi,l)=\frac{\mathrm{MSE}_\text{trig}}{\mathrm{MSE}_\text{pos}}"
    r"=\frac{\big(1-e^{-2l^2(1-\cos\varphi)}\big)^2}"
    r"{2\,e^{4l^2\cos\varphi}\big(1-e^{-2l^2(1+\cos\varphi)}\big)},\qquad |x|=|y|=l"
)
st.caption(
    "Performer Fig. 2 (from Lemma 2; m cancels). Red, r > 1: positive features are better; "
    "that is where the kernel value exp(l² cos φ) is small (obtuse angles), the entries that "
    "dominate peaky attention rows. Blue: trig features are better (aligned, large kernel)."
)
c1, c2 = st.columns(2)
length = c1.slider("Slice at length l", 0.25, 2.0, 1.0, 0.25, key="th_len")
ratio_m = c2.select_slider("m for the Monte Carlo", [4, 16, 64], 16, key="th_ratio_m")
with ui.errors_as_messages():
    ratio_table = ui.figure_table("fig2", "paper")
    angles = tuple(np.linspace(-3.0, 3.0, 8))  # φ = 0 left out: there r = 0
    slice_mc = ui.monte_carlo(
        "ratio_slice", angles=angles, length=length, head_dim=16, num_features=ratio_m, draws=DRAWS
    )
fig_ratio = fig2_figure(ratio_table, slice_length=length, slice_mc=slice_mc)
ui.chart(fig_ratio, "th_ratio_chart", table=slice_mc, name="ratio_slice")

st.subheader("Orthogonal random features")
st.latex(
    r"\mathrm{MSE}\big(\widehat{\mathrm{SM}}^{\,\text{ort}+}_m\big)\le"
    r"\mathrm{MSE}\big(\widehat{\mathrm{SM}}^{+}_m\big)-\Delta,"
)
st.latex(
    r"\Delta=\Big(1-\tfrac{1}{m}\Big)\tfrac{2}{d+2}"
    r"\Big(\mathrm{SM}(x,y)-e^{-(|x|^2+|y|^2)/2}\Big)^2,\qquad m\le d"
)
st.caption(
    "Performer Theorem 2 (arXiv v4): exactly orthogonal rows (with Gaussian chi(d) lengths) "
    "never do worse than iid rows, and the guaranteed gain grows with m up to m = d."
)
c1, c2, c3 = st.columns(3)
ort_d = c1.selectbox("Head dim d", [4, 8, 16, 32], 2, key="th_ort_d")
ort_len = c2.slider("|x| = |y|", 0.1, 1.2, 0.35, 0.05, key="th_ort_len")
ort_angle = c3.slider("Angle (radians)", 0.0, 3.0, 0.5, 0.1, key="th_ort_angle")
ms = sorted({2**i for i in range(int(math.log2(ort_d)) + 1)} | {ort_d})
with ui.errors_as_messages():
    gain = ui.monte_carlo(
        "orthogonal_gain",
        ms=tuple(ms),
        length=ort_len,
        angle=ort_angle,
        head_dim=ort_d,
        draws=2 * DRAWS,  # m ≤ d: cheap, and the gain is only ~10 % of the MSE
    )
fig_ort = orthogonal_gain_chart(
    gain, title=f"Positive features, iid vs orthogonal rows (d = {ort_d})"
)
ui.chart(fig_ort, "th_ort_chart", table=gain, name="orthogonal_gain")

st.subheader("Rows of norm √d estimate a different kernel (SMREG)")
st.latex(
    r"\mathbb{E}_{w\sim\sqrt{d}\,S^{d-1}}\big[\varphi_+(x)\cdot\varphi_+(y)\big]"
    r"=e^{-(|x|^2+|y|^2)/2}\;{}_0F_1\!\big(;\tfrac{d}{2};\tfrac{d\,|x+y|^2}{4}\big)"
    r"\le e^{x\cdot y}"
)
st.caption(
    "Performer Sec. 2.3 and Theorem 1: the `fixed_norm` projection gives every row the length "
    "√d instead of a chi(d) length. Its rows are not Gaussian, so positive (and hyperbolic) "
    "features estimate the regularized softmax kernel SMREG, below exp(x·y): biased for "
    "softmax. As a fraction of exp(x·y) it depends on |x + y| alone. Points: seeded Monte Carlo "
    f"({DRAWS} draws of W per point, ± 2 SE) on both kinds of rows."
)
c1, c2 = st.columns(2)
reg_d = c1.selectbox("Head dim d", [4, 8, 16, 64], 1, key="th_reg_d")
reg_m = c2.select_slider("m", [4, 16, 64], 16, key="th_reg_m")
with ui.errors_as_messages():
    reg = ui.monte_carlo(
        "regularized_ratio_curve",
        sum_norms=tuple(np.round(np.linspace(0.0, 2.5, 6), 2)),
        head_dim=reg_d,
        num_features=reg_m,
        draws=DRAWS,
    )
fig_reg = regularized_kernel_chart(reg, title=f"What positive features estimate (d = {reg_d})")
ui.chart(fig_reg, "th_reg_chart", table=reg, name="regularized_kernel")

st.subheader("FAVOR#: rebalancing |x| and |y| (SADERF)")
st.latex(
    r"x'=\Psi x,\ y'=\Psi^{-1}y,\quad \Psi_{ll}="
    r"\Big(\tfrac{\mathrm{mean}_j\,y_{jl}^2}{\mathrm{mean}_i\,x_{il}^2}\Big)^{1/4},\quad"
    r"\frac{\mathrm{MSE}}{\mathrm{SM}^2}=\text{oprf's at } |x'+y'|^2"
)
st.caption(
    "Likhosherstov et al. 2023 (Dense-Exponential Random Features): x'·y' = x·y for any "
    "diagonal Ψ, so OPRF features of the rebalanced pair stay unbiased; Ψ minimises the mean "
    "|x' + y'|², which sets the variance. Here |y|/|x| grows at a fixed x·y: OPRF's error "
    "grows with |x + y|², FAVOR#'s stays flat. Points: seeded Monte Carlo of the real maps "
    f"({DRAWS} draws per point, ± 2 SE; heavy tails pull OPRF's points below its line)."
)
c1, c2 = st.columns(2)
sharp_d = c1.selectbox("Head dim d", [4, 8, 16, 32], 1, key="th_sharp_d")
sharp_m = c2.select_slider("m", [4, 16, 64], 16, key="th_sharp_m")
with ui.errors_as_messages():
    sharp = ui.monte_carlo(
        "saderf_imbalance_curve",
        ratios=(1.0, 2.0, 4.0, 8.0),
        length=0.8,
        angle=1.0,
        head_dim=sharp_d,
        num_features=sharp_m,
        draws=DRAWS,
    )
fig_sharp = saderf_imbalance_chart(
    sharp, title=f"OPRF vs FAVOR# as the norms drift apart (d = {sharp_d}, m = {sharp_m})"
)
ui.chart(fig_sharp, "th_sharp_chart", table=sharp, name="saderf_imbalance")

st.subheader("The output error on your data: the delta method")
st.latex(
    r"\mathbb{E}|\hat o_i-o_i|^2\approx\frac{1}{m}\,e^{|x_i|^2}D_i^2\sum_{j,l}P_{ij}^2P_{il}^2\,"
    r"e^{y_j\cdot y_l}\,(v_j-o_i)\cdot(v_l-o_i)"
)
st.latex(r"\text{valid while}\quad \mathrm{Var}(\hat D_i)/D_i^2\le 0.1\ \text{ for every row } i")
st.caption(
    "Theory notes §2.9: the normalised output is a ratio of two unbiased estimators; to first "
    "order in 1/m its MSE is this sum (positive features, m iid rows). It over-predicts once "
    "the normaliser's relative variance is not small, so it is drawn grey and dotted there. "
    "Being first order, it is also blind to rare bad draws (one random vector aligned with a "
    "large query), which can lift the mean over seeds far above it: hover for each range. "
    "Measured on the current data (sidebar); the prediction uses the first 256 query rows."
)
with ui.errors_as_messages():
    data = ui.current_data(settings)
    guess = ui.prediction(settings, data)
if guess is None:
    st.info("The prediction needs V and at most 2048 keys: choose other data in the sidebar.")
else:
    delta_ms = [4, 16, 64, 256, 1024]
    seeds = st.slider("Seeds", 2, 16, 4, key="th_seeds")
    with ui.errors_as_messages():
        axes = {"feature_map": ["positive"], "projection": ["iid"], "num_features": delta_ms}
        table = ui.sweep_table(
            settings, data, axes, range(seeds), name="th_delta", what="the measured errors"
        )
    if table is None:  # cancelled: the last section, nothing below waits
        st.stop()
    measured = seed_summary(
        table, x="num_features", by=("feature_map",), metric=error_metric(table)
    )
    curve = delta_method_curve(guess, reference_m=settings.config.num_features, ms=delta_ms)
    cols = st.columns(3)
    cols[0].metric(
        f"Predicted error at m = {settings.config.num_features}",
        ui.fmt(guess.predicted_relative_error),
    )
    cols[1].metric("max Var(D̂)/D²", ui.fmt(float(np.max(guess.denominator_variance))))
    cols[2].metric("Delta method valid", "yes" if guess.valid else "no")
    fig_delta = delta_method_chart(
        measured,
        curve,
        metric_label="output relative error",
        title="Positive features, iid rows: measured vs predicted output error",
    )
    delta_table = curve.merge(measured, on="num_features", how="left")
    ui.chart(fig_delta, "th_delta_chart", table=delta_table, name="delta_method")
    st.caption(f"Data: {ui.escape_markdown(data.description)}.")
