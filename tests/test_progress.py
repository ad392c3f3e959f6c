"""The progress display: sparse plain lines in logs, a tqdm bar on a terminal."""

import io

from hierlearn.experiments.run.progress import Progress, clock


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_log_lines_are_sparse_and_say_what_is_done_and_left():
    stream = io.StringIO()
    progress = Progress(stream=stream, interval=3600)
    for done in range(1, 201):
        progress.update(done=done, failed=done // 50, running=2, skipped=10, total=400)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1  # the first update; the next is due an hour later
    progress.update(done=200, failed=4, running=2, skipped=10, total=400, force=True)
    progress.close()
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith("progress: 210/400 cells (10 stored before), 4 failed, 2 running;")
    assert "elapsed" in last and "cells/min" in last and "about" in last and "left" in last
    assert "?" not in stream.getvalue()


def test_an_adaptive_search_shows_its_bound_instead_of_a_total():
    stream = io.StringIO()
    progress = Progress(stream=stream, interval=0)
    progress.update(done=1, failed=0, running=1, skipped=0, bound=90)
    progress.update(done=30, failed=0, running=1, skipped=0, bound=60)
    line = stream.getvalue().splitlines()[-1]
    assert "30 cells of at most 60" in line and "left at this rate" in line.split(";")[1]


def test_a_terminal_gets_a_tqdm_bar():
    stream = Terminal()
    progress = Progress(stream=stream)
    for done in range(1, 6):
        progress.update(done=done, failed=0, running=1, skipped=0, total=5)
    progress.close()
    text = stream.getvalue()
    assert "\r" in text and "5/5" in text and "0 failed, 1 running" in text


def test_disabled_draws_nothing_and_clock_formats():
    stream = io.StringIO()
    progress = Progress(stream=stream, enabled=False)
    progress.update(done=3, failed=0, running=0, skipped=0, total=3, force=True)
    progress.close()
    assert stream.getvalue() == ""
    assert clock(3725.4) == "1:02:05" and clock(-1) == "0:00:00"
