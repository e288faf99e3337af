"""Progress on stderr: steps, the time spent and an estimate of the rest; quiet is silent."""

from __future__ import annotations

import io

from explorer.cli import progress as progress_module
from explorer.cli.progress import Progress, duration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_durations_read_naturally():
    assert duration(12.4) == "12 s"
    assert duration(185) == "3 min 05 s"
    assert duration(3720) == "1 h 02 min"


def test_a_log_gets_lines_with_an_estimate(monkeypatch):
    clock = iter([0.0, 10.0, 20.0, 30.0, 40.0])
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(progress_module, "LOG_INTERVAL_S", 0.0)
    stream = io.StringIO()
    bar = Progress(stream=stream)
    bar.update(0, 4, "starting")  # nothing done yet: no line in a log
    bar.update(1, 4, "run 1")
    bar.update(4, 4, "run 4")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[1/4] run 1 (10 s so far, about 30 s left)"  # 10 s a step, 3 to go
    assert lines[1] == "[4/4] run 4 (took 30 s)"


def test_a_terminal_rewrites_one_line_and_quiet_prints_nothing():
    term = Terminal()
    bar = Progress(stream=term)
    bar.update(1, 3, "a")
    bar.update(2, 3, "b")
    assert term.getvalue().count("\r") == 2 and "\n" not in term.getvalue()
    bar.close()
    assert term.getvalue().endswith("\n")
    quiet = io.StringIO()
    Progress(quiet=True, stream=quiet).update(1, 2, "x")
    assert quiet.getvalue() == ""
