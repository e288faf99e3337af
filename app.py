"""Attention Approximation Explorer: the Streamlit entry point (``streamlit run app.py``).

The shared sidebar lives here, so its widgets keep their state across pages; the page scripts
sit in ``pages/`` and are listed explicitly with ``st.Page`` (``st.navigation`` then ignores the
folder's legacy auto-discovery).
"""

from __future__ import annotations

import streamlit as st

from explorer import ui

st.set_page_config(
    page_title="Attention Approximation Explorer",
    page_icon=":material/blur_on:",
    layout="wide",
)
ui.start_run()  # counts runs: a Cancel click's run skips the page's other uncached work
PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
    st.Page("pages/attention_maps.py", title="Attention maps", icon=":material/grid_on:"),
    st.Page(
        "pages/error_distributions.py", title="Error distributions", icon=":material/bar_chart:"
    ),
    st.Page("pages/scaling.py", title="Scaling", icon=":material/show_chart:"),
    st.Page("pages/theory.py", title="Theory", icon=":material/functions:"),
    st.Page("pages/model_report.py", title="Model report", icon=":material/table_view:"),
    st.Page("pages/in_the_model.py", title="In the model", icon=":material/layers:"),
]
navigation = st.navigation(PAGES)
ui.sidebar()
navigation.run()
