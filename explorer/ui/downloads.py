"""Charts on a page, each with its downloads: CSV, HTML, PNG, SVG and PDF, built on click.

Every file is made only when its button is pressed (``st.download_button`` takes a zero-argument
callable, which Streamlit runs in a worker thread, outside the script run). The images come
from one headless Chromium per server process (``explorer.charts.export.ImageExporter`` in
``st.cache_resource``), shared by every session: the exporter gives each call its own result,
so concurrent downloads never swap images. The browser starts with the first image (2-4 s on
2 cores), later images take about 0.3 s. Where kaleido or Chromium is missing, a note says so
and CSV and HTML remain.
"""

from __future__ import annotations

import functools

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.charts.export import MIME_TYPES, STATIC_FORMATS, ImageExporter
from explorer.charts.export import static_export_problem as _static_export_problem
from explorer.untrusted import csv_text


@st.cache_resource(show_spinner=False, on_release=lambda exporter: exporter.close())
def image_exporter() -> ImageExporter:
    """The server's one image exporter (its browser starts with the first image)."""
    return ImageExporter()


@st.cache_resource(show_spinner=False, ttl=300)
def static_export_problem() -> str | None:
    """Why this server cannot make PNG/SVG/PDF (None: it can); checked every 5 minutes."""
    return _static_export_problem()


def chart(fig: go.Figure, key: str, *, table: pd.DataFrame | None = None, name: str = "") -> None:
    """A plotly chart across the page, with its downloads (CSV of ``table`` when given)."""
    st.plotly_chart(
        fig,
        key=key,
        width="stretch",
        config={"toImageButtonOptions": {"format": "png", "scale": 2}},
    )
    downloads(fig, table, name or key)


def csv_download(table: pd.DataFrame, name: str, label: str = "Data (CSV)") -> None:
    """A download button for ``table`` as CSV, whose text cells cannot run as formulas."""
    st.download_button(
        label,
        functools.partial(csv_text, table),
        f"{name}.csv",
        "text/csv",
        key=f"csv_{name}",
        on_click="ignore",
        icon=":material/table:",
    )


def downloads(fig: go.Figure, table: pd.DataFrame | None, name: str) -> None:
    """A "Download" menu: the table as CSV, the figure as HTML, PNG, SVG and PDF."""
    with st.popover("Download", icon=":material/download:"):
        if table is not None:
            csv_download(table, name)
        st.download_button(
            "Figure (HTML, interactive)",
            functools.partial(fig.to_html, include_plotlyjs=True),
            f"{name}.html",
            "text/html",
            key=f"html_{name}",
            on_click="ignore",
            icon=":material/code:",
        )
        problem = static_export_problem()
        if problem is not None:
            st.caption(f"PNG, SVG and PDF are not available on this server: {problem}.")
            return
        exporter = image_exporter()
        for fmt in STATIC_FORMATS:
            st.download_button(
                f"Figure ({fmt.upper()})",
                functools.partial(exporter.image, fig, fmt),
                f"{name}.{fmt}",
                MIME_TYPES[fmt],
                key=f"{fmt}_{name}",
                on_click="ignore",
                icon=":material/image:",
            )
