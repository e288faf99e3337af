"""Data: what the inputs are, and the norms that predict how hard they are to approximate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer import ui
from explorer.charts.errors import norm_histograms
from explorer.experiments.control import CONTROL_DRAWS, control_table, verdict
from explorer.theory.closed_forms import relative_mse

ui.run_from_app()  # first: a page opened on its own (a deep link) runs app.py instead

st.title("Data")
st.markdown(
    "Choose the source in the sidebar: the **built-in real model** (Q/K/V of all-MiniLM-L6-v2 on "
    "a few sentences), **synthetic** Gaussian inputs, or **your own upload** "
    "(`.safetensors` recommended; `.npy`, `.npz`, `.pt` accepted as data only, never code)."
)
settings = ui.settings()
with ui.errors_as_messages():
    data = ui.current_data(settings)
    result = ui.comparison(settings, data)

st.subheader("What was understood")
st.text(data.description)
if data.inputs is not None:
    inputs = data.inputs
    rows = [
        {"tensor": "q", "shape (h, l, d)": str(inputs.q.shape), "dtype": str(inputs.q.dtype)},
        {"tensor": "k", "shape (h, l, d)": str(inputs.k.shape), "dtype": str(inputs.k.dtype)},
        # k and v have (h_kv, s, ·): fewer heads than q where the model groups query heads
        {
            "tensor": "v",
            "shape (h, l, d)": "missing: output errors need V"
            if inputs.v is None
            else str(inputs.v.shape),
            "dtype": "" if inputs.v is None else str(inputs.v.dtype),
        },
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    if inputs.group > 1:
        st.caption(
            f"Grouped-query heads: {inputs.num_heads} query heads share {inputs.num_kv_heads} "
            f"key/value heads ({inputs.group} each), as the model computes them."
        )
    used = result.softmax
    own = {
        "scale of q·k": inputs.softmax_scale,
        "causal mask": inputs.causal,
        "sliding window": inputs.window,
        "logit soft-cap": inputs.softcap,
    }
    if used is not None:
        applied = [used.scale, used.causal, used.window, used.softcap]
        st.caption(
            "How softmax is computed: the data's own settings (a capture records its model's) "
            "unless the sidebar's Softmax settings override them."
        )
        st.dataframe(
            pd.DataFrame(
                {
                    "setting": list(own),
                    "the data's own": ["not stated" if v is None else str(v) for v in own.values()],
                    "used here": ["none" if v is None else str(v) for v in applied],
                }
            ),
            hide_index=True,
        )
    if inputs.query_tokens:
        st.caption("Tokens (used as axis labels of the attention maps):")
        st.text(" ".join(inputs.query_tokens))  # st.text: plain text, never markdown
    if data.metadata:
        st.caption("What the file says about itself (its metadata, as plain text):")
        st.dataframe(pd.DataFrame(data.metadata, columns=["key", "value"]), hide_index=True)
    if inputs.v is None:
        st.info("No V was given: the tool compares attention weights only. Output errors need V.")

stats = result.statistics
rho = float(stats.mean_pair_sq_sum.mean())
m = settings.config.num_features
predicted = float(np.sqrt(relative_mse("positive", sq_sum=rho, num_features=m)))
st.subheader("The numbers that predict the error")
st.markdown(
    f"With x = q·√scale and y = k·√scale (scale = 1/√d unless the data says otherwise), the "
    f"softmax kernel is exp(x·y). Positive random "
    f"features estimate it with relative variance **(e^(|x+y|²) − 1)/m** (Performer, Lemma 2). "
    f"Here the mean |x+y|² is **{rho:.3g}**, so at m = {m} one kernel value has a predicted "
    f"relative error of about **{predicted:.3g}**."
)
regime = (
    "easy: errors fall like m^(-1/2)"
    if rho < 1
    else "moderate: errors fall slower than m^(-1/2)"
    if rho < 4
    else "hard: heavy-tailed estimates, errors may sit at the uniform-attention baseline"
)
st.caption(f"Predicted regime: {regime}. Real models typically have mean |x+y|² of 9–20.")
fig = norm_histograms(stats.x_sq_norms, stats.pair_sq_sum_sample)
table = pd.DataFrame({"pair_sq_sum": stats.pair_sq_sum_sample})
ui.chart(fig, "data_norms", table=table, name="input_norms")

if settings.matched:
    st.subheader("Structure or norms?")
    st.info(
        "Matched norms are on (sidebar): these inputs already are random directions with your "
        "data's row norms. Switch them off to set your data beside this control.",
        icon=":material/info:",
    )
elif data.inputs is not None and settings.source != "synthetic":
    st.subheader("Structure or norms?")
    st.markdown(
        "A **control**: the same row norms |q_i| and |k_j| as your data, with the directions "
        "drawn at random (so queries no longer align with their keys), under the same settings. "
        f"Both sides run {CONTROL_DRAWS} feature draws (the control also redraws its "
        "directions), since one draw varies by 10–20%. If both err alike, the norms explain "
        "the error; if your data errs more, the way its queries and keys align makes it harder "
        "(|x+y|² = |x|² + |y|² + 2x·y)."
    )
    if st.toggle("Run the control", value=True, key="control"):
        with ui.errors_as_messages():
            real, control = ui.norms_control(settings, data)
        table = control_table(real, control)
        st.dataframe(table, hide_index=True, key="control_table")
        st.caption(
            {
                "norms": "Your data and the control err alike (within two standard errors): "
                "the row norms explain the error.",
                "directions_harder": "Your data errs more than the control: the alignment of "
                "its queries with its keys adds to what the norms predict.",
                "directions_easier": "Your data errs less than the control: its directions "
                "make the kernel easier to estimate than its norms alone suggest.",
                "undefined": "The two errors cannot be compared here (undefined values).",
            }[verdict(real, control)]
        )
        ui.csv_download(table, "norms_control", "Control table (CSV)")
