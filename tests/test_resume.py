"""A sweep killed with SIGKILL at several points resumes with every cell stored exactly once.

The test waits on the store's state (rows stored) and on processes' states, never on sleeps;
``HANG`` only turns a hang into a failure."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import yaml

from conftest import ntk_learner, quad_learner, sweep
from hierlearn.experiments.run.cells import cell_key, grid_cells
from hierlearn.experiments.run.store import Store
from hierlearn.experiments.spec import load_spec

SWEEP = sweep(
    "resume",
    dimensions=[4, 6],
    samples=[16, 24, 32, 48, 64, 96],
    seeds=5,  # 120 cells: 75 still to run at the last kill, so it lands before the sweep ends
    learners={
        "ntk": ntk_learner(32, input_bias=1.0),
        "quad": quad_learner(32, epochs=150, lr=0.05),
    },
)


HANG = 240  # seconds: a hang guard, not a timing assertion


def wait_until(condition, what: str, process=None) -> None:
    deadline = time.monotonic() + HANG
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"the sweep ended while waiting for {what}: {process.communicate()}"
            )
        assert time.monotonic() < deadline, f"no progress: still waiting for {what}"
        time.sleep(0.02)


def stored_count(path) -> int:
    if not path.exists():
        return -1
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return connection.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error:  # the schema is not there yet
        return -1


def start(spec_path, store_path):
    command = [
        sys.executable,
        "-m",
        "hierlearn.cli",
        "run",
        str(spec_path),
        "--store",
        str(store_path),
        "--workers",
        "1",
        "--threads",
        "1",
        "--quiet",
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_sigkill_and_resume(tmp_path):
    spec_path = tmp_path / "resume.yaml"
    spec_path.write_text(yaml.safe_dump(SWEEP))
    store_path = tmp_path / "resume.sqlite"
    expected = {cell_key(c) for c in grid_cells(load_spec(spec_path)[0])}
    assert len(expected) == 120

    counts = []
    # Kill as soon as the store exists (workers starting), then after a few, several, many rows.
    for threshold in (-1, 3, 20, 45):
        process = start(spec_path, store_path)
        if threshold < 0:
            wait_until(store_path.exists, "the store file", process)
        else:
            wait_until(
                lambda k=threshold: stored_count(store_path) >= k, f"{threshold} rows", process
            )
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL
        if stored_count(store_path) >= 0:
            with Store(store_path) as store:
                assert store.integrity_check() == "ok"
                rows = store.rows()
            # The worker processes die with the driver (the kernel kills them).
            pids = {int(r["worker"].rsplit(":", 1)[1]) for r in rows}
            wait_until(lambda pids=pids: not any(alive(pid) for pid in pids), "the workers to die")
            counts.append(len(rows))
            assert len({r["key"] for r in rows}) == len(rows)
            assert {r["key"] for r in rows} <= expected
    print("rows after each kill:", counts)
    assert counts == sorted(counts) and counts[-1] < len(expected)

    process = start(spec_path, store_path)
    output, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors.decode()
    assert f"{counts[-1]} already stored" in output.decode()
    with Store(store_path) as store:
        assert store.integrity_check() == "ok"
        rows = store.rows()
        attempts = store.book.attempts()
        assert store.book.leases() == []
    assert sorted(r["key"] for r in rows) == sorted(expected)
    assert all(r["status"] == "ok" for r in rows)
    # Each cell was stored by one fit; a killed runner's unfinished fits were taken over.
    stored = [a["key"] for a in attempts if a["outcome"] == "stored"]
    assert sorted(stored) == sorted(expected)
    assert {a["outcome"] for a in attempts} <= {"stored", "expired"}
