"""The one exception type that the app and the command line show as a message, not a traceback."""

from __future__ import annotations


class ExplorerError(ValueError):
    """Bad input or settings: the message says what is wrong and where (never a traceback)."""


class InputError(ExplorerError):
    """An input file or tensor that cannot be used (format, size, shape, NaN/Inf)."""


class BudgetError(ExplorerError):
    """Work that would exceed a configured resource budget (memory, length, features)."""
