"""Executors: the local pool and a real Dask LocalCluster give identical rows; time limits;
a failing cell is stored and the sweep goes on.

No test bounds wall-clock time: a cell under a time limit is configured to run for hours, so
only the limit can end it ("timeout" rows); a broken limit fails at a generous guard
(``HANG``) with a message that says so, instead of hanging the suite."""

import _thread
import contextlib
import copy
import threading

import pytest

from conftest import hermite2_features, ntk_learner, quad_learner, sweep
from hierlearn.experiments.run.cells import cell_config, learner_config
from hierlearn.experiments.run.executors import (
    DaskExecutor,
    InlineExecutor,
    LocalPoolExecutor,
    cpu_count,
    default_threads,
    execute_cell,
)
from hierlearn.experiments.run.runner import run_spec
from hierlearn.experiments.run.store import Store
from hierlearn.experiments.spec import parse_spec

SWEEP = sweep(
    "executors",
    dimensions=[4, 6],
    samples=[24, 48],
    learners={
        "ntk": ntk_learner(16, input_bias=1.0, search={"ridge": [1e-4, 1e-1]}),
        "quad_h": quad_learner(
            8, epochs=15, lr=0.05, input_bias=1.0, representation=hermite2_features("2*d", 200)
        ),
    },
)
HANG = 300  # seconds: a hang guard, not a timing assertion
# What may legitimately differ between two runs of the same cell.
VOLATILE = ("seconds", "peak_memory_mb", "worker", "finished_at", "git_revision")


def stable(rows):
    return {row["key"]: {k: v for k, v in row.items() if k not in VOLATILE} for row in rows}


def run_into(path, spec, executor):
    try:
        with Store(path, create=True) as store:
            summary = run_spec(spec, store, executor)
            return summary, store.rows()
    finally:
        executor.close()


def test_local_pool_and_dask_give_identical_rows(tmp_path):
    from distributed import Client, LocalCluster

    spec = parse_spec(copy.deepcopy(SWEEP))
    summary, pool_rows = run_into(tmp_path / "pool.sqlite", spec, LocalPoolExecutor(2, threads=1))
    assert summary.ran == 16 and summary.statuses == {"ok": 16}
    # Utilisation: the cells' own run times over the slots' wall time.
    assert summary.slots == 2
    assert summary.busy_seconds == pytest.approx(sum(row["seconds"] for row in pool_rows))
    assert 0 < summary.utilisation() <= 1
    cluster = LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    )
    client = Client(cluster)
    executor = DaskExecutor(client, threads=1, owned=(client, cluster))
    assert executor.capacity == 2
    summary, dask_rows = run_into(tmp_path / "dask.sqlite", spec, executor)
    assert summary.ran == 16
    assert stable(pool_rows) == stable(dask_rows)
    # Different processes really ran them.
    assert {r["worker"] for r in pool_rows}.isdisjoint({r["worker"] for r in dask_rows})


@pytest.mark.parametrize(
    ("workers", "cores", "threads"), [(1, 2, 2), (2, 2, 1), (3, 2, 1), (3, 16, 5), (4, 16, 4)]
)
def test_threads_per_worker_respect_the_cores(workers, cores, threads):
    assert default_threads(workers, cores) == threads
    assert 1 <= default_threads(workers) <= max(1, cpu_count())


def slow_config(time_limit):
    data = copy.deepcopy(SWEEP)
    data["time_limit"] = time_limit
    data["learners"]["quad_h"]["model"]["params"].update(epochs=10**7, eval_every=10**6)
    spec = parse_spec(data)
    return cell_config(learner_config(spec, "quad_h", 4), 48, 0)


@contextlib.contextmanager
def hang_guard(what: str):
    """Interrupt the main thread (a test failure naming ``what``) after HANG seconds."""
    fired = threading.Event()
    timer = threading.Timer(HANG, lambda: (fired.set(), _thread.interrupt_main()))
    timer.start()
    try:
        yield
    except KeyboardInterrupt:
        if fired.is_set():
            raise AssertionError(f"{what} did not stop the cell") from None
        raise
    finally:
        timer.cancel()


def test_time_limit_in_the_main_thread():
    with hang_guard("the SIGALRM time limit"):
        row = execute_cell(slow_config(1.0))
    assert row["status"] == "timeout"
    assert row["error"] == "time limit of 1.0 s reached"


def test_time_limit_in_a_worker_thread_and_a_process(tmp_path):
    from distributed import Client, LocalCluster

    config = slow_config(1.0)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        future = client.submit(execute_cell, config, 1, pure=False)
        with hang_guard("the time limit in a Dask worker thread"):
            row = future.result()
        assert row["status"] == "timeout"
        assert row["error"] == "time limit of 1.0 s reached"
    pool = LocalPoolExecutor(1, threads=1)
    try:
        pool.submit(config)
        rows = []
        with hang_guard("the time limit in a pool worker"):
            while not rows:
                rows = pool.poll(0.5)
        assert [r["status"] for r in rows] == ["timeout"]
        assert rows[0]["error"].startswith("time limit of 1.0 s reached")
    finally:
        pool.close()


def test_a_failing_cell_is_stored_and_the_sweep_goes_on(tmp_path):
    data = copy.deepcopy(SWEEP)
    data["learners"]["broken"] = {
        "model": {"kind": "quadratic_taylor", "params": {"width": 7, "epochs": 5}}
    }
    spec = parse_spec(data)
    summary, rows = run_into(tmp_path / "s.sqlite", spec, InlineExecutor(threads=1))
    assert summary.statuses == {"ok": 16, "failed": 8}
    failed = [r for r in rows if r["status"] == "failed"]
    assert {r["learner"] for r in failed} == {"broken"}
    assert all("Traceback" in r["error"] and "ValueError" in r["error"] for r in failed)


def test_an_inline_run_restores_the_callers_thread_count(tmp_path):
    import torch

    before = torch.get_num_threads()
    data = copy.deepcopy(SWEEP)
    data["dimensions"], data["samples"] = [4], [24]
    try:
        torch.set_num_threads(2)
        summary, _ = run_into(tmp_path / "s.sqlite", parse_spec(data), InlineExecutor(threads=1))
        assert summary.statuses == {"ok": 4}
        assert torch.get_num_threads() == 2  # the cells ran with 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("retry", [False, True])
def test_resume_skips_finished_and_retries_failed_only_when_asked(tmp_path, retry):
    data = copy.deepcopy(SWEEP)
    data["dimensions"] = [4]
    data["learners"] = {
        "broken": {"model": {"kind": "quadratic_taylor", "params": {"width": 7, "epochs": 5}}},
        "ntk": SWEEP["learners"]["ntk"],
    }
    spec = parse_spec(data)
    path = tmp_path / "s.sqlite"
    run_into(path, spec, InlineExecutor())
    with Store(path) as store:
        run_spec(spec, store, InlineExecutor(), retry_failed=False)
        summary = run_spec(spec, store, InlineExecutor(), retry_failed=retry)
        assert summary.skipped == (4 if retry else 8)
        assert summary.ran == (4 if retry else 0)
        assert summary.statuses.get("failed", 0) == (4 if retry else 0)
        assert len(store.rows()) == 8


def test_pool_workers_with_several_threads_start_from_a_clean_fork_server():
    """Workers are forked from a fork server that imported the cell code and ran no torch
    operation: a worker with 2 torch threads runs cells after this process has used its own
    OpenMP threads (a child forked from such a process deadlocks in its first parallel
    operation), and gives the results a cell run here gives (to rounding: the thread counts
    differ)."""
    import multiprocessing
    import time

    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    torch.randn(600, 600).exp().sum()  # this process's OpenMP pool has run
    torch.set_num_threads(previous)
    spec = parse_spec(copy.deepcopy(SWEEP))
    configs = [cell_config(learner_config(spec, "ntk", 4), 48, seed) for seed in (0, 1)]
    pool = LocalPoolExecutor(1, threads=2)
    try:
        if "forkserver" in multiprocessing.get_all_start_methods():
            assert pool._context.get_start_method() == "forkserver"
        for config in configs:
            pool.submit(config)
        rows, deadline = [], time.monotonic() + HANG
        while len(rows) < 2 and time.monotonic() < deadline:
            rows += pool.poll(0.5)
        assert len(rows) == 2, "a pool worker with 2 threads did not finish its cells"
    finally:
        pool.close()
    here = {row["key"]: row for row in (execute_cell(config, 1) for config in configs)}
    assert {row["key"] for row in rows} == set(here)
    for row in rows:
        assert row["status"] == here[row["key"]]["status"] == "ok"
        expected = here[row["key"]]["relative_test_error"]
        assert row["relative_test_error"] == pytest.approx(expected, rel=1e-9)
