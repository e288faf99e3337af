"""Long work with a Cancel button that stops it within a second and leaves the app usable.

``cancellable(job, compute)`` is how sweeps (and the model report) run. ``compute(cache_only)``
is the work; with ``cache_only=True`` it must return a cached result or raise ``NotCached``
(the cached functions of ``ui.compute`` do this before anything else, so a cache hit shows no
button). On a miss a Cancel button appears above the work's progress bar. A click:

1. reruns the page at once (Streamlit starts a new script run and abandons the old one);
2. its callback, which runs first in the new run, sets the old run's event, so the old
   thread's work stops at its next ``explorer.cancel.checkpoint()`` (milliseconds: between
   runs and per row block), and marks the job cancelled for its key;
3. the new run shows "cancelled" with a Run button instead of the job, and, in this run only,
   skips every later job on the page that is not cached, so nothing else starts computing.

A cancelled job stays cancelled until Run is pressed or its key (its settings) changes.
Nothing is written to ``st.session_state`` from inside the work (an abandoned thread could
write after the new run has started); the marks are set by the button's callback.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import streamlit as st

from explorer.cancel import Cancelled, cancellation

T = TypeVar("T")
RUN = "_explorer_run"  # script runs of this session so far (``start_run``)
CANCEL_RUN = "_explorer_cancel_run"  # the run a Cancel click started


class NotCached(Exception):  # noqa: N818  # a signal, not an error
    """Raised by ``compute(cache_only=True)`` when the result is not in the cache yet."""


@dataclass(frozen=True, kw_only=True)
class Job:
    """One piece of long work on a page."""

    name: str  # unique in the app: keys its buttons and its cancelled mark
    key: str  # what it computes (a digest of its cache key): cancelled until this changes
    what: str  # for the messages, e.g. "the sweep over m"


def job_for(name: str, what: str, *parts: object) -> Job:
    """A Job keyed by the digest of ``parts`` (what its cache key holds)."""
    key = hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
    return Job(name=name, key=key, what=what)


def start_run() -> None:
    """Count this session's script runs (app.py, first): a Cancel click's run is known."""
    st.session_state[RUN] = st.session_state.get(RUN, 0) + 1


def cancellable(job: Job, compute: Callable[[bool], T]) -> T | None:
    """``compute(False)`` under a Cancel button, or None when cancelled or skipped."""
    state = st.session_state
    mark = cancelled_mark(job.name)
    if state.get(mark) == job.key:
        _note(job, f"You cancelled {job.what}.")
        return None
    state.pop(mark, None)  # a mark for other settings: those have changed
    try:
        return compute(True)
    except NotCached:
        pass
    if state.get(CANCEL_RUN) is not None and state.get(CANCEL_RUN) == state.get(RUN):
        _note(job, f"Not computed: you cancelled a computation on this page, so {job.what} waits.")
        return None
    event = threading.Event()
    slot = st.empty()
    slot.button(
        f"Cancel {job.what}",
        key=f"cancel_{job.name}",
        on_click=_cancel,
        args=(mark, job.key, event),
        icon=":material/cancel:",
        help="Stops the computation within a second; the rest of the app stays as it is.",
    )
    try:
        with cancellation(event):
            value = compute(False)
    except Cancelled:  # only in the abandoned run: its output is never shown
        st.stop()
    slot.empty()
    return value


def cancelled_mark(name: str) -> str:
    """The session-state key that holds the key a job was cancelled at."""
    return f"_explorer_cancelled_{name}"


def _cancel(mark: str, key: str, event: threading.Event) -> None:
    event.set()  # the abandoned run's work stops at its next checkpoint
    st.session_state[mark] = key
    st.session_state[CANCEL_RUN] = st.session_state.get(RUN, 0) + 1  # the run starting now


def _resume(mark: str) -> None:
    st.session_state.pop(mark, None)


def _note(job: Job, text: str) -> None:
    st.info(text, icon=":material/cancel:")
    st.button(
        f"Run {job.what}",
        key=f"run_{job.name}",
        on_click=_resume,
        args=(cancelled_mark(job.name),),
        icon=":material/play_arrow:",
    )
