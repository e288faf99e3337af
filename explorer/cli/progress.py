"""Progress of long commands on stderr: step, what runs, time spent and an estimate of the rest.

On a terminal one line is rewritten in place; elsewhere (logs, CI) a line is printed at most
every ``LOG_INTERVAL_S`` seconds and at the end, so a log stays readable. The estimate assumes
the remaining steps take as long as the finished ones on average. Nothing goes to stdout, so
``--json`` output stays clean; ``--quiet`` silences it all.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

LOG_INTERVAL_S = 5.0


def duration(seconds: float) -> str:
    """12 s, 3 min 05 s, 1 h 02 min."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """``update(done, total, text)`` after each step; ``close()`` ends the line."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = sys.stderr if stream is None else stream
        self.start = time.monotonic()
        self.last_print = -float("inf")
        self.live = False
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self, done: int, total: int, text: str) -> str:
        spent = time.monotonic() - self.start
        if done >= total:
            return f"[{done}/{total}] {text} (took {duration(spent)})"
        rest = f", about {duration(spent / done * (total - done))} left" if done else ""
        return f"[{done}/{total}] {text} ({duration(spent)} so far{rest})"

    def update(self, done: int, total: int, text: str) -> None:
        if self.quiet or (not self.terminal and (done == 0 or total < 2)):
            return  # logs get lines only for steps done of a multi-step job
        message = self.line(done, total, text)
        now = time.monotonic()
        if self.terminal:
            print(f"\r\033[K{message}", end="", file=self.stream, flush=True)
            self.live = True
        elif done >= total or now - self.last_print >= LOG_INTERVAL_S:
            print(message, file=self.stream, flush=True)
            self.last_print = now
        if done >= total:
            self.close()

    def note(self, text: str) -> None:
        """A line of its own (what was written, where), unless quiet."""
        if self.quiet:
            return
        self.close()
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.live:
            print(file=self.stream, flush=True)
            self.live = False
