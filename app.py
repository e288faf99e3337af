"""Attention Approximation Explorer: the Streamlit entry point (``streamlit run app.py``)."""

from __future__ import annotations

import streamlit as st

from explorer.experiment import ExperimentConfig, compare

st.set_page_config(page_title="Attention Approximation Explorer", layout="wide")
st.title("Attention Approximation Explorer")
st.write(
    "Softmax attention costs O(L²). Performers replace exp(q·k/√d) by φ(q)·φ(k) with m random "
    "features: linear in L, but approximate. This tool measures how approximate."
)
result = compare(ExperimentConfig(seq_len=256, num_features=256))
metrics = result.metrics
left, right = st.columns(2)
left.metric("Output relative error (FAVOR+, m = 256)", f"{metrics.output_relative_error:.3f}")
right.metric("Uniform-attention baseline", f"{metrics.uniform_baseline_error:.3f}")
