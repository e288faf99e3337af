"""The Streamlit layer of the core (the only part of ``explorer`` that imports streamlit).

Entry points: ``sidebar`` (app.py builds it once), ``run_from_app`` (every page calls it
first), ``settings`` and ``current_data`` (what a page works on) and the cached core calls of
``compute``, whose long ones run under a Cancel button (``cancel.cancellable``, for any long
work with a progress bar; app.py calls ``start_run`` first). May import everything below it.
Pages stay thin: ``settings = ui.settings()`` (read from the sidebar widgets app.py created),
``data = ui.current_data(settings)`` and ``ui.comparison(settings, data)`` → figures from
``explorer.charts``. Cache keys are frozen configs plus a content digest of the inputs
(Streamlit samples large arrays when hashing, so arrays are never hashed themselves).
"""

from explorer.ui.cancel import Job, NotCached, cancellable, job_for, start_run
from explorer.ui.compute import (
    comparison,
    figure_table,
    monte_carlo,
    norms_control,
    prediction,
    sweep_table,
    timing_table,
)
from explorer.ui.data import Data, current_data
from explorer.ui.downloads import chart, csv_download, downloads
from explorer.ui.entry import run_from_app
from explorer.ui.recipes import recipes_table
from explorer.ui.sidebar import Settings, settings, sidebar
from explorer.ui.widgets import (
    cached_figure,
    diagnostics,
    errors_as_messages,
    escape_markdown,
    fit_note,
    fmt,
    row_coverage,
)

__all__ = [
    "Data",
    "Job",
    "NotCached",
    "Settings",
    "cached_figure",
    "cancellable",
    "chart",
    "comparison",
    "csv_download",
    "current_data",
    "diagnostics",
    "downloads",
    "errors_as_messages",
    "figure_table",
    "fit_note",
    "fmt",
    "job_for",
    "monte_carlo",
    "norms_control",
    "escape_markdown",
    "prediction",
    "recipes_table",
    "row_coverage",
    "run_from_app",
    "settings",
    "sidebar",
    "start_run",
    "sweep_table",
    "timing_table",
]
