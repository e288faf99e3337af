"""Model report: which heads of the current model can be linearised, with which map, at what m."""

from __future__ import annotations

import streamlit as st

from explorer import ui
from explorer.charts.report import best_map_heatmap, layer_curves, m_needed_heatmap, ratio_heatmap
from explorer.charts.report_html import chosen_m, report_html
from explorer.experiments.report_grid import DEFAULT_GRID, ReportGrid
from explorer.kernels.feature_maps import FEATURE_MAPS
from explorer.kernels.projections import PROJECTIONS
from explorer.ui.report import ATTENTION_PAGE, model_source, report

ui.run_from_app()  # first: a page opened on its own (a deep link) runs app.py instead

st.title("Model report")
st.markdown(
    "Can you replace attention in this model, where, with which kernel, at what cost? Every "
    "layer × head against every feature map, m and seed below; each cell is exactly what "
    "Attention maps computes for that head. A head reaches the target when its mean output "
    "error over the seeds is at most the chosen fraction of uniform attention's."
)
settings = ui.settings()
with ui.errors_as_messages():
    model = model_source(settings)
st.caption(f"Data: {ui.escape_markdown(model.description)} (every layer, every head).")

c1, c2, c3, c4 = st.columns([3, 2, 3, 2])
maps = c1.multiselect(
    "Feature maps", list(FEATURE_MAPS), list(DEFAULT_GRID.feature_maps), key="mr_maps",
    format_func=lambda name: FEATURE_MAPS[name].label,
)  # fmt: skip
projections = c2.multiselect(
    "Projections", list(PROJECTIONS), list(DEFAULT_GRID.projections), key="mr_projs"
)
options = [2**i for i in range(2, 13)]
low, high = c3.select_slider("Range of m", options, (16, 1024), key="mr_m")
seeds = c4.slider("Seeds", 1, 8, len(DEFAULT_GRID.seeds), key="mr_seeds")
ratio = st.slider(
    "Target: mean output error ≤ this × the uniform baseline", 0.05, 1.0,
    DEFAULT_GRID.target_ratio, 0.05, key="mr_ratio",
)  # fmt: skip

if not maps or not projections:
    st.info("Choose at least one feature map and one projection.")
    st.stop()
with ui.errors_as_messages():
    grid = ReportGrid(
        feature_maps=tuple(maps),
        projections=tuple(projections),
        num_features=tuple(m for m in options if low <= m <= high),
        seeds=tuple(range(seeds)),
        target_ratio=ratio,
        device=settings.config.device,
    )
    result = report(model, grid)
if result is None:  # cancelled: a note and a Run button instead
    st.stop()

st.success(ui.escape_markdown(result.recommendation))
for note in grid.notes():
    st.caption(note)
st.dataframe(result.counts, hide_index=True)
m = st.select_slider("m of the error / baseline map", list(grid.num_features),
                     chosen_m(result), key="mr_at_m")  # fmt: skip
ui.chart(ratio_heatmap(result, m), "mr_ratio_map", table=result.summary, name="model_report_ratio")
ui.chart(m_needed_heatmap(result), "mr_m_needed", table=result.summary, name="model_report_m")
ui.chart(best_map_heatmap(result), "mr_best", table=result.summary, name="model_report_best")
ui.chart(layer_curves(result), "mr_curves", table=result.cells, name="model_report_curves")

st.subheader("Open a head on the attention maps")
heads = [(int(r.layer), int(r.head)) for r in result.summary.itertuples()]
c1, c2 = st.columns([3, 1])
chosen = c1.selectbox("Head", heads, format_func=lambda p: f"layer {p[0]}, head {p[1]}",
                      key="mr_head")  # fmt: skip
# a deep link, as the sidebar's own: its widgets read layer and head from the query string
query = {**st.query_params.to_dict(), "layer": str(chosen[0]), "head": str(chosen[1])}
c2.page_link(ATTENTION_PAGE, label="Open on Attention maps", icon=":material/grid_on:",
             query_params=query)  # fmt: skip

st.subheader("Downloads")
d1, d2, d3 = st.columns(3)
with d1:
    ui.csv_download(result.cells, "model_report_cells", "Every cell (CSV)")
with d2:
    ui.csv_download(result.summary, "model_report_summary", "Summary per head (CSV)")
with d3:
    st.download_button(
        "Report (HTML, self-contained)", lambda: report_html(result, num_features=m),
        "model_report.html", "text/html", key="mr_html", on_click="ignore",
        icon=":material/code:",
    )  # fmt: skip
