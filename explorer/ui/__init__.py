"""The Streamlit layer of the core (the only part of ``explorer`` that imports streamlit).

Entry points: ``sidebar`` (app.py builds it once), ``settings`` and ``current_data`` (what a
page works on) and the cached core calls of ``compute``. May import everything below it.
Pages stay thin: ``settings = ui.settings()`` (read from the sidebar widgets app.py created),
``data = ui.current_data(settings)`` and ``ui.comparison(settings, data)`` → figures from
``explorer.charts``. Cache keys are frozen configs plus a content digest of the inputs
(Streamlit samples large arrays when hashing, so arrays are never hashed themselves).
"""

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
from explorer.ui.sidebar import Settings, settings, sidebar
from explorer.ui.widgets import (
    cached_figure,
    chart,
    diagnostics,
    downloads,
    errors_as_messages,
    escape_markdown,
    fmt,
    row_coverage,
)

__all__ = [
    "Data",
    "Settings",
    "cached_figure",
    "chart",
    "comparison",
    "current_data",
    "diagnostics",
    "downloads",
    "errors_as_messages",
    "figure_table",
    "fmt",
    "monte_carlo",
    "norms_control",
    "escape_markdown",
    "prediction",
    "row_coverage",
    "settings",
    "sidebar",
    "sweep_table",
    "timing_table",
]
