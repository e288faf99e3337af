"""Attention maps: exact vs approximate, head by head, and one query's distribution."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from explorer import ui
from explorer.charts.heatmaps import attention_heatmaps, head_grid, query_distribution

ui.run_from_app()  # first: a page opened on its own (a deep link) runs app.py instead

st.title("Attention maps")
st.markdown(
    "Left: the exact softmax attention P. Middle: the matrix the random features imply, "
    "P̂ = D⁻¹φ(Q)φ(K)ᵀ, on the **same colour scale**. Right: their difference on a diverging "
    "scale (red: too much attention, blue: too little). Trigonometric features can give "
    "**negative** weights, drawn in their own blue band."
)
settings = ui.settings()
with ui.errors_as_messages():
    data = ui.current_data(settings)
    result = ui.comparison(settings, data)

maps = result.maps
num_heads = maps.exact.shape[0]
head = 0
if num_heads > 1:
    head = st.slider("Head", 0, num_heads - 1, 0, key="maps_head")
label = head if settings.head is None else settings.head
fig = attention_heatmaps(
    maps,
    head,
    query_tokens=result.query_tokens,
    key_tokens=result.key_tokens,
    title=f"{data.description}: head {label}",
)
rows, cols = np.indices(maps.exact[head].shape)
table = pd.DataFrame({"query": rows.ravel(), "key": cols.ravel()})
if maps.pool == (1, 1) and result.query_tokens and result.key_tokens:
    table["query_token"] = np.asarray(result.query_tokens, dtype=object)[rows.ravel()]
    table["key_token"] = np.asarray(result.key_tokens, dtype=object)[cols.ravel()]
table["exact"] = maps.exact[head].ravel()
table["approx"] = maps.approx[head].ravel()
ui.chart(fig, "maps_main", table=table, name="attention_map")
if (fitted := ui.fit_note(result)) is not None:
    st.caption(fitted)

st.subheader("One query")
st.caption(
    "Pick a query row: bars are its exact attention over the keys, the line the "
    "approximation. Where the line misses the tall bars, the approximation blurs focus."
)
length = maps.exact.shape[1]
tokens = result.query_tokens if maps.pool == (1, 1) else None
query = st.select_slider(
    "Query",
    list(range(length)),
    value=min(length - 1, length // 2),
    key="maps_query",
    # Options render markdown: a token from an upload is escaped.
    format_func=(lambda i: f"{i}: {ui.escape_markdown(tokens[i])}") if tokens else str,
)
key_tokens = result.key_tokens if maps.pool == (1, 1) else None
fig_query = query_distribution(
    maps.exact[head, query],
    maps.approx[head, query],
    key_tokens=key_tokens,
    query_label=str(query),
)
query_table = pd.DataFrame(
    {"key": np.arange(length), "exact": maps.exact[head, query], "approx": maps.approx[head, query]}
)
ui.chart(fig_query, "maps_query_chart", table=query_table, name="query_attention")
if maps.pool != (1, 1):
    st.caption(f"Rows and keys are averaged in blocks of {maps.pool[0]}×{maps.pool[1]} here.")

st.subheader("Every head at a glance")
kind = (
    st.segmented_control(
        "Show", ["approximate", "difference", "exact"], default="difference", key="maps_grid_kind"
    )
    or "difference"
)
everything = replace(settings, head=None)
layers = range(data.num_layers) if data.num_layers <= 12 else [settings.layer]
with ui.errors_as_messages():
    grid_data = [ui.current_data(everything, layer=layer) for layer in layers]
    grid_maps = [ui.comparison(everything, layer_data).maps for layer_data in grid_data]


def build_grid():
    pick = {
        "approximate": lambda m: m.approx,
        "exact": lambda m: m.exact,
        "difference": lambda m: m.approx - m.exact,
    }[kind]
    names = [f"layer {layer}" if data.num_layers > 1 else "" for layer in layers]
    return head_grid([pick(m) for m in grid_maps], row_names=names, kind=kind)


grid_key = (everything.config, tuple(d.key for d in grid_data), kind)
ui.chart(ui.cached_figure("head_grid", grid_key, build_grid), "maps_grid", name="head_grid")
st.caption(
    "Rows are layers, columns heads. A real model's heads differ a lot: some attend "
    "broadly (easy to approximate), some sharply (hard)."
)
