"""A progress display for sweeps: a live bar on a terminal, plain lines otherwise.

On a TTY the bar is redrawn in place at most ``refresh`` times a second::

    [###########.........]  55/100 done  2 failed  2 running  0:01:40 left

and, when other runners share the store, how many of the cells this run waits for they are
computing (``3 running elsewhere``).

When the stream is not a terminal (a log file, a pipe), one plain line is written at most
every ``interval`` seconds and at the end. The time left is the remaining cells times the mean
wall time per finished cell in this run, measured from the first finished one so that
start-up is not counted (known totals only; adaptive sweeps show "?").
"""

from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Counts of a sweep and their display.

    Args:
        total: cells the sweep will finish (None when unknown).
        stream: where to draw (default ``sys.stderr``).
        enabled: False draws nothing.
        interval: seconds between plain lines when the stream is not a terminal.
    """

    def __init__(
        self,
        total: int | None = None,
        stream=None,
        enabled: bool = True,
        interval: float = 5.0,
        refresh: float = 5.0,
        width: int = 24,
    ):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval, self.refresh, self.width = interval, refresh, width
        self.done = self.failed = self.running = self.skipped = self.elsewhere = 0
        self._last_draw = -1e9
        self._last_text = None
        self._first_done = None  # when the first cell of this run finished

    def update(
        self,
        *,
        done: int,
        failed: int,
        running: int,
        skipped: int,
        total: int | None = None,
        force: bool = False,
        elsewhere: int = 0,
    ) -> None:
        """Set the counts: cells finished in this run, of them "failed" or "timeout", cells
        running, cells skipped because they were already stored, cells other runners are
        computing."""
        if done and self._first_done is None:
            self._first_done = time.monotonic()
        self.done, self.failed, self.running, self.skipped = done, failed, running, skipped
        self.elsewhere = elsewhere
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < (1 / self.refresh if self.tty else self.interval):
            return
        if self.line() == self._last_text and (
            self.tty or now - self._last_draw < 60 * self.interval
        ):
            return  # nothing new to show (a log file still gets a line every minute or so)
        self._last_draw = now
        self._draw(end="" if self.tty else "\n")

    def line(self) -> str:
        """The current status as one line of text."""
        if self.total is not None:
            finished = self.done + self.skipped
            fraction = finished / self.total if self.total else 1.0
            filled = round(fraction * self.width)
            bar = "[" + "#" * filled + "." * (self.width - filled) + "] "
            remaining = max(self.total - finished, 0)
            left = "?"
            if self.done >= 2:
                # Throughput since the first finished cell (start-up time excluded).
                per_cell = (time.monotonic() - self._first_done) / (self.done - 1)
                left = _clock(per_cell * remaining)
            count = f"{finished:>{len(str(self.total))}}/{self.total} done"
        else:
            bar, left, count = "", "?", f"{self.done + self.skipped} done"
        text = f"{bar}{count}  {self.failed} failed  {self.running} running"
        if self.elsewhere:
            text += f"  {self.elsewhere} running elsewhere"
        text += f"  {left} left"
        if self.skipped:
            text += f"  ({self.skipped} already stored)"
        return text

    def _draw(self, end: str) -> None:
        prefix = "\r\033[K" if self.tty else ""
        self._last_text = self.line()
        self.stream.write(prefix + self._last_text + end)
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state (unless that exact line is already shown) and end the line."""
        if not self.enabled:
            return
        if self.tty:
            self._draw(end="\n")
        elif self.line() != self._last_text:
            self._draw(end="\n")
