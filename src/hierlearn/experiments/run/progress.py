"""A progress display for sweeps: a live tqdm bar on a terminal, sparse log lines otherwise.

On a terminal, a tqdm bar counts finished cells (stored ones included) against the total of a
grid, or without a bar against an adaptive search, with the rate, the elapsed and remaining
time, and a postfix ``2 failed, 2 running``; when other runners share the store, how many of
the cells this run waits for they are computing (``3 running elsewhere``).

When the stream is not a terminal (a log file, a pipe, a batch job), one plain line is written
at most every ``interval`` seconds (60 by default) and at the end::

    progress: 55/100 cells (12 stored before), 2 failed, 2 running; 0:01:40 elapsed,
    31.5 cells/min, about 0:01:25 left

(one line in the log).

The remaining time is the cells left divided by the rate of this run since its first finished
cell (start-up excluded). An adaptive search has no total in advance: its line gives the
upper bound of `max_cells` instead
(``55 cells of at most 180``) and the time those would take at the current rate (``up to
0:04:10 left at this rate``; later cells of a search are larger, so it is a guide, not a
bound).
"""

from __future__ import annotations

import sys
import time


def clock(seconds: float) -> str:
    """h:mm:ss."""
    seconds = max(0, round(seconds))
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
        interval: float = 60.0,
    ):
        self.total = total
        self.bound: int | None = None  # an upper bound on the cells when the total is unknown
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval
        self.done = self.failed = self.running = self.skipped = self.elsewhere = 0
        self._start = time.monotonic()
        self._first_done: float | None = None  # when the first cell of this run finished
        self._done_at_first = 0
        self._last_line = -1e9
        self._last_text: str | None = None
        self._bar = None

    # ------------------------------------------------------------------ counts

    def update(
        self,
        *,
        done: int,
        failed: int,
        running: int,
        skipped: int,
        total: int | None = None,
        bound: int | None = None,
        force: bool = False,
        elsewhere: int = 0,
    ) -> None:
        """Set the counts: cells finished in this run, of them "failed" or "timeout", cells
        running, cells skipped because they were already stored, cells this run waits for that
        other runners are computing; ``total`` (a grid) or ``bound`` (an upper bound, for an
        adaptive search)."""
        if done and self._first_done is None:
            self._first_done, self._done_at_first = time.monotonic(), done
        self.done, self.failed, self.running, self.skipped = done, failed, running, skipped
        self.elsewhere = elsewhere
        if total is not None:
            self.total = total
        if bound is not None:
            self.bound = bound
        if not self.enabled:
            return
        if self.tty:
            self._draw_bar()
            return
        now = time.monotonic()
        if force or now - self._last_line >= self.interval:
            self._write_line(now)

    @property
    def finished(self) -> int:
        return self.done + self.skipped

    def rate(self) -> float | None:
        """Cells per second of this run since its first finished cell (None before two)."""
        if self._first_done is None or self.done <= self._done_at_first:
            return None
        seconds = time.monotonic() - self._first_done
        return (self.done - self._done_at_first) / seconds if seconds > 0 else None

    def left(self) -> str:
        """``about h:mm:ss left``, ``up to h:mm:ss left at this rate`` (adaptive) or ``""``."""
        rate = self.rate()
        if rate is None:
            return ""
        if self.total is not None:
            return f"about {clock(max(self.total - self.finished, 0) / rate)} left"
        if self.bound is not None:
            return f"up to {clock(max(self.bound - self.finished, 0) / rate)} left at this rate"
        return ""

    def line(self) -> str:
        """The current status as one line of text."""
        if self.total is not None:
            cells = f"{self.finished}/{self.total} cells"
        elif self.bound is not None:
            cells = f"{self.finished} cells of at most {self.bound}"
        else:
            cells = f"{self.finished} cells"
        if self.skipped:
            cells += f" ({self.skipped} stored before)"
        parts = [cells, f"{self.failed} failed", f"{self.running} running"]
        if self.elsewhere:
            parts.append(f"{self.elsewhere} running elsewhere")
        timing = [f"{clock(time.monotonic() - self._start)} elapsed"]
        rate = self.rate()
        if rate is not None:
            timing.append(f"{60 * rate:.1f} cells/min")
        left = self.left()
        if left:
            timing.append(left)
        return "progress: " + ", ".join(parts) + "; " + ", ".join(timing)

    # ------------------------------------------------------------------ drawing

    def _write_line(self, now: float) -> None:
        text = self.line()
        self._last_line = now
        self._last_text = text
        self.stream.write(text + "\n")
        self.stream.flush()

    def _draw_bar(self) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(
                total=self.total,
                initial=self.finished,
                file=self.stream,
                unit="cell",
                dynamic_ncols=True,
                smoothing=0.1,
                leave=True,
            )
        if self.total is not None and self._bar.total != self.total:
            self._bar.total = self.total
        self._bar.n = self.finished
        postfix = f"{self.failed} failed, {self.running} running"
        if self.elsewhere:
            postfix += f", {self.elsewhere} running elsewhere"
        if self.total is None and self.bound is not None:
            postfix += f", at most {self.bound} cells"
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        """Draw the final state and end the display."""
        if not self.enabled:
            return
        if self.tty:
            if self._bar is not None:
                self._draw_bar()
                self._bar.close()
                self._bar = None
        elif self.line() != self._last_text:
            self._write_line(time.monotonic())
