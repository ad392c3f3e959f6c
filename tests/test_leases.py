"""Several runners on one store split the cells through leases: every cell is fitted once, a
runner killed with SIGKILL loses no cell, leased cells are waited for (adaptive searches
included), and SIGINT / SIGTERM stop a runner cleanly with 130 / 143.

Every wait here polls the store's state (rows, leases, attempts); the deadlines only turn a
hang into a failure."""

import copy
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import yaml

from hierlearn.experiments.run.cells import cell_key, grid_cells, run_cell
from hierlearn.experiments.run.executors import DaskExecutor, InlineExecutor
from hierlearn.experiments.run.runner import run_spec
from hierlearn.experiments.run.store import Owner, Store
from hierlearn.experiments.spec import parse_spec

QUAD = {"kind": "quadratic_taylor", "params": {"width": 8, "epochs": 250, "lr": 0.05}}
SWEEP = {  # 100 cells of about 0.1 s each
    "name": "leases",
    "target": {"degrees": 1},
    "dimensions": [3, 4],
    "samples": [8, 12, 16, 24, 32],
    "seeds": 5,
    "test_size": 50,
    "learners": {
        "quad_a": {"model": QUAD},
        "quad_b": {"model": {**QUAD, "params": {**QUAD["params"], "lr": 0.02}}},
    },
}
LEASE_SECONDS = 2.0
HANG = 240  # seconds after which a wait is a failure (a hang), not a timing assertion


def query(path, sql, parameters=()):
    """Rows of ``sql`` on the store at ``path`` ([] while it or its tables do not exist)."""
    if not path.exists():
        return []
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return connection.execute(sql, parameters).fetchall()
        finally:
            connection.close()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return []
        raise


def wait_for(condition, what, processes=()):
    deadline = time.monotonic() + HANG
    while not condition():
        for process in processes:
            assert process.poll() is None, f"a runner exited early: {process.communicate()}"
        assert time.monotonic() < deadline, f"no progress: still waiting for {what}"
        time.sleep(0.05)


def _default_sigint():
    # A job started in the background by a non-interactive shell (as CI may start the test
    # run) inherits SIGINT ignored, and the runner rightly keeps an ignored signal ignored;
    # the runner under test gets the disposition of a terminal, where Ctrl-C reaches it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_runner(spec_path, store_path, extra=()):
    environment = dict(os.environ, HIERLEARN_LEASE_SECONDS=str(LEASE_SECONDS))
    command = [sys.executable, "-m", "hierlearn.cli", "run", str(spec_path), "--store"]
    command += [str(store_path), "--workers", "1", "--threads", "1", "--quiet", *extra]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        preexec_fn=_default_sigint,
    )


def stored_by(path, pid) -> int:
    rows = query(path, "SELECT COUNT(*) FROM attempts WHERE pid = ? AND outcome = 'stored'", (pid,))
    return rows[0][0] if rows else 0


def holds_lease(path, pid) -> bool:
    return bool(query(path, "SELECT 1 FROM leases WHERE pid = ?", (pid,)))


# 300 cells: the two subprocess runners cannot finish them all before the in-process Dask
# runner has started and stored its first rows, even on a busy machine.
KILL_SWEEP = {**SWEEP, "name": "kill", "seeds": 15}


def test_three_runners_split_the_cells_and_survive_a_sigkill(tmp_path):
    from distributed import Client, LocalCluster

    spec_path = tmp_path / "leases.yaml"
    spec_path.write_text(yaml.safe_dump(KILL_SWEEP))
    store_path = tmp_path / "store.sqlite"
    spec = parse_spec(copy.deepcopy(KILL_SWEEP))
    expected = {cell_key(c) for c in grid_cells(spec)}
    assert len(expected) == 300

    victim = start_runner(spec_path, store_path)
    survivor = start_runner(spec_path, store_path)
    # The Dask runner joins once the victim is mid-sweep.
    wait_for(lambda: stored_by(store_path, victim.pid) >= 3, "the first runner's rows", [victim])
    killed = {}

    def kill_the_victim_mid_sweep():
        # Once the Dask runner works too, kill the victim while it holds a lease.
        deadline = time.monotonic() + HANG
        while time.monotonic() < deadline and victim.poll() is None:
            dask_rows = stored_by(store_path, os.getpid())
            leased = query(store_path, "SELECT key FROM leases WHERE pid = ?", (victim.pid,))
            if dask_rows >= 3 and leased:
                victim.send_signal(signal.SIGKILL)
                killed["done"] = True
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_victim_mid_sweep)
    killer.start()
    cluster = LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    )
    client = Client(cluster)
    executor = DaskExecutor(client, threads=1, owned=(client, cluster))
    try:
        with Store(store_path, create=True) as store:
            summary = run_spec(spec, store, executor, lease_seconds=LEASE_SECONDS)
    finally:
        executor.close()
        killer.join()
    _output, errors = survivor.communicate(timeout=HANG)
    assert survivor.returncode == 0, errors.decode()
    victim.wait()
    assert killed and victim.returncode == -signal.SIGKILL, "the victim was not killed mid-sweep"

    with Store(store_path) as store:
        assert store.integrity_check() == "ok"
        rows = store.rows()
        attempts = store.book.attempts()
        assert store.book.leases() == []
        assert not [r for r in store.book.runners() if r["live"]]
    assert sorted(r["key"] for r in rows) == sorted(expected)
    assert all(r["status"] == "ok" for r in rows)
    # Every cell was stored by exactly one fit; only the cell the victim held when it died
    # was started twice (the victim's attempt expired, another runner fitted it).
    stored = Counter(a["key"] for a in attempts if a["outcome"] == "stored")
    assert stored == Counter({key: 1 for key in expected})
    started = Counter(a["key"] for a in attempts)
    repeated = {key for key, count in started.items() if count > 1}
    lost = [a for a in attempts if a["pid"] == victim.pid and a["outcome"] != "stored"]
    assert repeated == {a["key"] for a in lost} and len(lost) <= 1
    for key in repeated:
        outcomes = [(a["pid"], a["outcome"]) for a in attempts if a["key"] == key]
        assert outcomes[0] == (victim.pid, "expired") and outcomes[1][1] == "stored"
    fits = Counter(a["pid"] for a in attempts if a["outcome"] == "stored")
    print(
        f"fits per runner: victim {fits[victim.pid]}, local {fits[survivor.pid]}, "
        f"dask {fits[os.getpid()]}"
    )
    assert fits[victim.pid] >= 3 and fits[os.getpid()] >= 3
    assert sum(fits.values()) == len(expected)
    assert summary.ran == fits[os.getpid()]
    assert summary.ran + summary.skipped == len(expected)


SMALL = {
    "name": "small",
    "target": {"degrees": 1},
    "dimensions": [3],
    "samples": [8, 16],
    "seeds": 2,
    "test_size": 50,
    "learners": {
        "ntk": {"model": {"kind": "ntk", "params": {"width": 8, "ridge": 1e-3}}},
        "quad": {"model": {**QUAD, "params": {**QUAD["params"], "epochs": 20}}},
    },
}


def elsewhere():
    return Owner("elsewhere:1:test", "elsewhere", 1, None)


def test_a_lease_held_elsewhere_expires_and_the_cell_is_run(tmp_path):
    spec = parse_spec(copy.deepcopy(SMALL))
    configs = grid_cells(spec)
    held = cell_key(configs[0])
    with Store(tmp_path / "s.sqlite", create=True) as store:
        # A runner on another host claimed a cell, then stopped heartbeating.
        store.book.claim(elsewhere(), [(held, configs[0])], 1, lease_seconds=1.0)
        summary = run_spec(spec, store, InlineExecutor(threads=1), lease_seconds=5)
        assert summary.ran == len(configs) and summary.elsewhere == 0
        assert [(a["owner"], a["outcome"]) for a in store.book.attempts(held)] == [
            (elsewhere().id, "expired"),
            (summary.owner, "stored"),
        ]
        assert store.book.leases() == [] and store.book.runners() == []


def test_a_cell_leased_elsewhere_is_waited_for_not_run(tmp_path):
    spec = parse_spec(copy.deepcopy(SMALL))
    configs = grid_cells(spec)
    held = cell_key(configs[0])
    path = tmp_path / "s.sqlite"
    with Store(path, create=True) as store:
        store.book.claim(elsewhere(), [(held, configs[0])], 1, lease_seconds=3600)

    def the_other_runner_finishes():
        # Stores its cell once this runner has stored all the others (it is then waiting).
        wait_for(lambda: len(query(path, "SELECT key FROM cells")) == len(configs) - 1, "rows")
        with Store(path) as other:
            other.put(run_cell(configs[0]), owner=elsewhere())

    other = threading.Thread(target=the_other_runner_finishes)
    other.start()
    with Store(path) as store:
        summary = run_spec(spec, store, InlineExecutor(threads=1), lease_seconds=5)
    other.join()
    assert summary.ran == len(configs) - 1 and summary.elsewhere == 1
    with Store(path) as store:
        assert [(a["owner"], a["outcome"]) for a in store.book.attempts(held)] == [
            (elsewhere().id, "stored")
        ]
        assert len(store.rows()) == len(configs)


def test_two_runners_share_an_adaptive_search(tmp_path):
    data = {
        **SMALL,
        "name": "adaptive",
        "dimensions": [3, 4],
        "seeds": 3,
        "eps": 0.1,
        "samples": {"mode": "adaptive", "bracket": ["2*d", "64*d"], "rel_precision": 0.3},
        "learners": {"ntk": {"model": {"kind": "ntk", "params": {"width": 32, "ridge": 1e-3}}}},
    }
    spec = parse_spec(data)
    path = tmp_path / "s.sqlite"
    with Store(tmp_path / "alone.sqlite", create=True) as store:
        alone = run_spec(spec, store, InlineExecutor(threads=1))
    Store(path, create=True).close()
    summaries = []

    def runner():
        with Store(path) as store:
            summaries.append(run_spec(spec, store, InlineExecutor(threads=1), lease_seconds=5))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HANG)
    assert len(summaries) == 2
    with Store(path) as store:
        attempts = store.book.attempts()
        keys = {r["key"] for r in store.rows()}
    # The same search path as one runner alone, every cell fitted once, by either runner.
    assert summaries[0].plan == summaries[1].plan == alone.plan
    assert Counter(a["key"] for a in attempts) == Counter({key: 1 for key in keys})
    assert {a["outcome"] for a in attempts} == {"stored"}
    assert summaries[0].ran + summaries[1].ran == alone.ran == len(keys)


# 1,000 cells of about 0.1 s: the signal lands after 2 of them, and the rest cannot finish
# first unless the machine stalls for minutes between the check and the signal.
LONG_SWEEP = {**SWEEP, "name": "long", "seeds": 50}


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_stop_cleanly(tmp_path, number):
    spec_path = tmp_path / "leases.yaml"
    spec_path.write_text(yaml.safe_dump(LONG_SWEEP))
    store_path = tmp_path / "store.sqlite"
    process = start_runner(spec_path, store_path)
    wait_for(
        lambda: stored_by(store_path, process.pid) >= 2 and holds_lease(store_path, process.pid),
        "rows and a lease",
        [process],
    )
    process.send_signal(number)
    _output, errors = process.communicate(timeout=HANG)
    assert process.returncode == 128 + number, errors.decode()
    assert "finished cells are stored, the same command resumes" in errors.decode()
    assert "Traceback" not in errors.decode()
    with Store(store_path) as store:
        assert store.book.leases() == [] and store.book.runners() == []
        attempts = store.book.attempts()
        rows = store.rows()
    assert len(rows) >= 2
    assert {a["outcome"] for a in attempts} <= {"stored", "released"}
    assert Counter(a["outcome"] for a in attempts)["stored"] == len(rows)


def test_status_shows_the_leased_cells_and_their_runners(tmp_path, capsys):
    from hierlearn.cli import main

    spec = parse_spec(copy.deepcopy(SMALL))
    configs = grid_cells(spec)
    path = tmp_path / "s.sqlite"
    with Store(path, create=True) as store:
        runner = Owner.this_process()
        store.book.register(runner, 1, 3600)
        store.book.claim(runner, [(cell_key(c), c) for c in configs[:2]], 2, 3600)
        store.book.claim(elsewhere(), [(cell_key(configs[2]), configs[2])], 1, lease_seconds=-1)
    assert main(["status", "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert "running: 3 cells leased" in out
    assert f"runner {runner.host} pid {runner.pid} since " in out and "2 cells, live" in out
    assert "runner elsewhere pid 1 since" in out and "not heartbeating" in out
    assert cell_key(configs[0]) in out and "expired: another runner will take it" in out


def test_runners_on_one_host_divide_its_cores(tmp_path):
    from hierlearn.experiments.run.executors import cpu_count

    spec = parse_spec(copy.deepcopy(SMALL))
    path = tmp_path / "s.sqlite"
    with Store(path, create=True) as store:
        # Another live runner of this host (this very process) running 3 cells at once.
        store.book.register(Owner.this_process(), 3, 3600)
        executor = InlineExecutor()
        run_spec(spec, store, executor)
        assert executor.cell_threads == max(1, cpu_count() // 4)
        fixed = InlineExecutor(threads=5)
        fixed.share_cores(4)
        assert fixed.cell_threads == 5


def test_two_runners_retry_each_failed_cell_once(tmp_path):
    data = copy.deepcopy(SMALL)
    data["learners"]["broken"] = {
        "model": {"kind": "quadratic_taylor", "params": {"width": 7, "epochs": 5}}
    }
    spec = parse_spec(data)
    path = tmp_path / "s.sqlite"
    with Store(path, create=True) as store:
        first = run_spec(spec, store, InlineExecutor(threads=1))
        failed = sorted(r["key"] for r in store.rows("status = 'failed'"))
        assert len(failed) == 4
        # One cell is being computed by a runner elsewhere: both runners wait for it, so they
        # overlap however fast the other cells go.
        held = next(c for c in grid_cells(spec) if cell_key(c) not in failed)
        store._connection.execute("DELETE FROM cells WHERE key = ?", (cell_key(held),))
        store.book.claim(elsewhere(), [(cell_key(held), held)], 1, lease_seconds=3600)
        before = len(store.book.attempts())
    summaries = []

    def runner():
        with Store(path) as store:
            summaries.append(
                run_spec(spec, store, InlineExecutor(threads=1), retry_failed=True, lease_seconds=5)
            )

    def live_runners():
        return query(path, "SELECT COUNT(*) FROM runners")[0][0]

    threads = [threading.Thread(target=runner) for _ in range(2)]
    threads[0].start()
    wait_for(lambda: live_runners() == 1, "the first runner")
    threads[1].start()
    wait_for(lambda: live_runners() == 2, "the second runner")
    wait_for(
        lambda: (
            query(
                path, "SELECT COUNT(*) FROM attempts WHERE id > ? AND outcome = 'stored'", (before,)
            )[0][0]
            == 4
        ),
        "the retries",
    )
    with Store(path) as other:
        other.put(run_cell(held), owner=elsewhere())
    for thread in threads:
        thread.join(timeout=HANG)
    assert len(summaries) == 2
    with Store(path) as store:
        retried = [a["key"] for a in store.book.attempts()[before:]]
    assert sorted(retried) == failed
    assert summaries[0].ran + summaries[1].ran == 4
    assert first.ran == len(grid_cells(spec))
