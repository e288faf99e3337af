"""Cooperative cancellation: checkpoints raise only inside a cancelled scope of their thread."""

from __future__ import annotations

import threading

import pytest

from explorer.cancel import Cancelled, cancellation, checkpoint
from explorer.experiments.compare import ExperimentConfig, compare
from explorer.experiments.sweep import sweep

SMALL = ExperimentConfig(seq_len=64, head_dim=16, num_features=16, device="cpu")


def test_checkpoints_raise_only_once_the_scopes_event_is_set():
    checkpoint()  # no scope: never raises
    event = threading.Event()
    with cancellation(event):
        checkpoint()
        event.set()
        with pytest.raises(Cancelled):
            checkpoint()
    checkpoint()  # the scope has ended


def test_a_scope_belongs_to_its_thread():
    event = threading.Event()
    event.set()
    raised: list[bool] = []

    def elsewhere() -> None:
        try:
            checkpoint()
            raised.append(False)
        except Cancelled:
            raised.append(True)

    with cancellation(event):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert raised == [False]  # another thread's work is not cancelled


def test_a_cancelled_sweep_stops_at_the_next_run():
    event = threading.Event()
    done: list[int] = []

    def progress(finished: int, total: int, _config) -> None:
        done.append(finished)
        if finished == 2:
            event.set()  # as the app's Cancel button does, from another thread

    with cancellation(event), pytest.raises(Cancelled):
        sweep(SMALL, {"num_features": [4, 8, 16, 32]}, seeds=range(5), progress=progress)
    assert done == [1, 2]  # of 20 runs


def test_a_comparison_stops_inside_its_reference_pass():
    event = threading.Event()
    event.set()
    with cancellation(event), pytest.raises(Cancelled):
        compare(SMALL)  # no sweep around it: the row blocks' checkpoint raises
    assert compare(SMALL).metrics.output_relative_error > 0  # outside the scope: runs
