"""Cooperative cancellation: long loops call ``checkpoint()``; a caller stops them with an event.

A Python thread cannot be stopped from outside, and Streamlit stops an abandoned script run
only at its next ``st.*`` call, so a sweep would otherwise finish the comparison it is in
(seconds on long inputs) and keep a CPU busy for nobody. The core's long loops (a sweep's
runs, the reference pass's row blocks, the display maps, Fig. 4's draws, the benchmark's
rounds) therefore call ``checkpoint()``, which raises ``Cancelled`` once the event of the
innermost ``cancellation(event)`` scope around them is set. The scope is a context variable:
it belongs to the thread (and context) that opened it, and outside any scope (the command
line, tests, library use) ``checkpoint()`` is one variable read that never raises.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from explorer.errors import ExplorerError

_EVENT: ContextVar[threading.Event | None] = ContextVar("explorer_cancel_event", default=None)


class Cancelled(ExplorerError):
    """The work was cancelled by its caller (``cancellation``'s event was set)."""


@contextmanager
def cancellation(event: threading.Event) -> Iterator[threading.Event]:
    """Run the body so that every ``checkpoint()`` in it raises once ``event`` is set."""
    token = _EVENT.set(event)
    try:
        yield event
    finally:
        _EVENT.reset(token)


def checkpoint() -> None:
    """Raise ``Cancelled`` if the enclosing ``cancellation`` scope's event is set."""
    event = _EVENT.get()
    if event is not None and event.is_set():
        raise Cancelled("the work was cancelled")
