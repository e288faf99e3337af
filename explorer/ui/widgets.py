"""Small display helpers shared by the pages: errors as messages, numbers, captions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import plotly.graph_objects as go
import streamlit as st

from explorer.errors import ExplorerError
from explorer.untrusted import for_markdown


@contextmanager
def errors_as_messages() -> Iterator[None]:
    """Show bad input as a message, not a traceback; the rest of the page keeps running."""
    try:
        yield
    except ExplorerError as error:
        st.error(for_markdown(str(error)), icon=":material/error:")  # may quote an upload
        st.stop()
    except ValueError as error:  # invalid settings from the core's validation
        st.error(f"These settings cannot run: {for_markdown(str(error))}", icon=":material/error:")
        st.stop()
    except MemoryError:
        st.error("Out of memory: lower L, m or the number of heads.", icon=":material/error:")
        st.stop()
    except RuntimeError as error:  # torch's allocators raise RuntimeError, not MemoryError
        if not _out_of_memory(error):
            raise
        st.error("Out of memory: lower L, m or the number of heads.", icon=":material/error:")
        st.stop()


def _out_of_memory(error: RuntimeError) -> bool:
    import torch

    text = str(error)
    return (
        isinstance(error, torch.OutOfMemoryError)
        or "can't allocate memory" in text
        or "out of memory" in text
    )


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a metric, or an explanation instead of NaN/None."""
    if value is None:
        return "needs V"
    if value != value or value in (float("inf"), float("-inf")):
        return "undefined"
    return f"{value:.{digits}g}"


@st.cache_data(max_entries=32, max_size="256MB", show_spinner=False)
def _figure(name: str, key: tuple, _build: Callable[[], go.Figure]) -> go.Figure:
    return _build()


def cached_figure(name: str, key: tuple, build: Callable[[], go.Figure]) -> go.Figure:
    """A figure built once per (name, key): big figures (many heatmaps) are slow to build."""
    return _figure(name, key, build)


def row_coverage(metrics) -> str:
    """What the row means cover, and the KL rows that are undefined (never hidden)."""
    rows = metrics.rows_evaluated * metrics.heads_evaluated
    text = f"Row means over {rows:,} query rows ({metrics.heads_evaluated} head(s) × " + (
        f"{metrics.rows_evaluated:,} rows). Mean TV {fmt(metrics.row_tv_mean)} (uniform "
        f"attention: {fmt(metrics.uniform_row_tv_mean)}); mean KL {fmt(metrics.row_kl_mean)}"
    )
    if metrics.kl_undefined_rows:
        defined = rows - metrics.kl_undefined_rows
        text += (
            f": KL is undefined (∞) on {metrics.kl_undefined_rows:,} of {rows:,} rows, where "
            "the approximate weights are ≤ 0 but the exact ones are not (signed features, "
            "or weights below the float range)"
        )
        if metrics.row_kl_mean_defined is not None:
            text += f"; over the {defined:,} defined rows alone: {fmt(metrics.row_kl_mean_defined)}"
    return text + "."


def fit_note(result) -> str | None:
    """What a fitted (learned) map was trained on and which rows the errors cover; else None."""
    fit = result.fit
    if fit is None:
        return None
    return (
        f"Learned map: fitted to this data in {fit.steps} Adam steps ({fit.seconds:.2f} s, "
        f"{fit.feature_dim} features) on the {fit.fit_rows} even query rows of each head. "
        f"Every error shown covers the {fit.held_out_rows} held-out odd rows (their mean KL "
        f"fell from {fmt(fit.held_out_loss[0])} to {fmt(fit.held_out_loss[1])}); the maps show "
        "every row, the fitted ones included."
    )


def diagnostics(result) -> str | None:
    """One line on rows the approximation could not handle, or None when there are none."""
    parts = []
    if result.small_rows:
        parts.append(
            f"{result.small_rows:,} rows without a usable normaliser (set to 0: it cancelled "
            "to ≈ 0, or is exactly 0)"
        )
    if result.negative_rows:
        parts.append(f"{result.negative_rows:,} rows with a negative normaliser")
    if result.out_of_range_rows:
        parts.append(
            f"{result.out_of_range_rows:,} rows whose output lies outside the values' range "
            "(impossible for softmax attention)"
        )
    if result.recomputed_rows:
        parts.append(
            f"{result.recomputed_rows:,} rows recomputed exactly in the log domain (their "
            "products underflowed)"
        )
    return "; ".join(parts).capitalize() + "." if parts else None


def escape_markdown(text: str) -> str:
    """Text from an upload (names, tokens) made inert inside markdown: no links, no markup."""
    return for_markdown(text)
