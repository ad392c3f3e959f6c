"""The SQLite store: rows round-trip, one row per key, WAL, refusal of foreign files, export;
concurrent creation; cell leases."""

import multiprocessing
import os
import socket
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from hierlearn.experiments.run.store import (
    SCHEMA_VERSION,
    Owner,
    Store,
    StoreError,
    export,
    process_alive,
)


def make_row(key="k1", status="ok", error=0.25, n=10, seed=0):
    return {
        "key": key,
        "spec": "s",
        "learner": "ntk",
        "d": 4,
        "n": n,
        "seed": seed,
        "status": status,
        "relative_test_error": error if status == "ok" else None,
        "relative_train_error": 0.1,
        "relative_validation_error": 0.2,
        "seconds": 1.5,
        "peak_memory_mb": 300.0,
        "library_version": "0.1.0",
        "git_revision": "abc",
        "worker": "host:1",
        "finished_at": "2024-01-01T00:00:00+00:00",
        "error": None if status == "ok" else "Traceback ...\nValueError: boom",
        "hyperparameters": {"ridge": 0.01},
        "search": [{"params": {"ridge": [0.01, 0.1]}}],
        # The design-set error steers adaptive searches (docs/theory.md §3).
        "details": {"relative_design_error": 2 * error} if status == "ok" else {},
        "config": {"d": 4, "n": n, "seed": seed, "learner": "ntk"},
    }


def test_round_trip(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path, create=True) as store:
        store.put(make_row())
        store.add_spec("s", "name: s\n")
        store.add_spec("s", "name: s\n")  # the same text is recorded once
    with Store(path) as store:
        row = store.get("k1")
        assert row["hyperparameters"] == {"ridge": 0.01}
        assert row["config"]["n"] == 10
        assert row["relative_test_error"] == 0.25
        assert store.results() == {"k1": ("ok", 0.5)}
        assert store.statuses() == {"k1": "ok"}
        assert len(store.specs()) == 1
        assert store.integrity_check() == "ok"
        mode = store._connection.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_one_row_per_key(tmp_path):
    with Store(tmp_path / "s.sqlite", create=True) as store:
        store.put(make_row(status="failed"))
        store.put(make_row(status="ok", error=0.5))
        store.put(make_row(key="k2", n=20))
        assert store.counts() == [("s", "ntk", "ok", 2)]
        assert store.get("k1")["relative_test_error"] == 0.5


def test_status_is_checked(tmp_path):
    with Store(tmp_path / "s.sqlite", create=True) as store, pytest.raises(sqlite3.Error):
        store.put(make_row(status="finished"))


def test_rows_are_committed_one_by_one(tmp_path):
    # A second connection sees each row as soon as put returns.
    path = tmp_path / "s.sqlite"
    with Store(path, create=True) as store:
        reader = sqlite3.connect(path)
        for i in range(3):
            store.put(make_row(key=f"k{i}", seed=i))
            assert reader.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == i + 1
        reader.close()


def test_missing_store_is_not_created(tmp_path):
    with pytest.raises(StoreError, match="no store"):
        Store(tmp_path / "absent.sqlite")
    assert not (tmp_path / "absent.sqlite").exists()
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing-dir" / "s.sqlite", create=True)
    assert not (tmp_path / "missing-dir").exists()


def test_foreign_files_are_refused_and_left_alone(tmp_path):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database " * 100)
    with pytest.raises(StoreError):
        Store(text_file, create=True)
    assert text_file.read_text() == "not a database " * 100
    other = tmp_path / "other.sqlite"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE t (x)")
    connection.commit()
    connection.close()
    before = other.read_bytes()
    with pytest.raises(StoreError, match="not a hierlearn store"):
        Store(other, create=True)
    assert other.read_bytes() == before


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_export(tmp_path, file_format):
    with Store(tmp_path / "s.sqlite", create=True) as store:
        store.put(make_row())
        store.put(make_row(key="k2", status="failed", n=20))
        path = tmp_path / f"rows.{file_format}"
        assert export(store, path, file_format) == 2
    frame = pd.read_csv(path) if file_format == "csv" else pd.read_parquet(path)
    assert list(frame["key"]) == ["k1", "k2"]
    assert list(frame["status"]) == ["ok", "failed"]
    assert frame["relative_test_error"].iloc[0] == 0.25
    assert "ValueError: boom" in frame["error"].iloc[1]


def test_export_rejects_unknown_format(tmp_path):
    with (
        Store(tmp_path / "s.sqlite", create=True) as store,
        pytest.raises(ValueError, match="format"),
    ):
        export(store, tmp_path / "x.json", "json")


# ---------------------------------------------------------------- concurrent creation


def _create(path, barrier, results):
    barrier.wait()
    try:
        with Store(path, create=True) as store:
            store.put(make_row(key=f"k{os.getpid()}"))
        results.put("ok")
    except Exception as error:
        results.put(f"{type(error).__name__}: {error}")


def test_concurrent_creators_all_succeed(tmp_path):
    # Processes released together on a new path: one creates the schema, the others wait
    # for its transaction and find it done.
    context = multiprocessing.get_context("fork")
    path = tmp_path / "new.sqlite"
    count = 6
    barrier, results = context.Barrier(count), context.Queue()
    processes = [
        context.Process(target=_create, args=(path, barrier, results)) for _ in range(count)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join()
    assert outcomes == ["ok"] * count
    with Store(path) as store:
        assert len(store.rows()) == count
        assert store.meta()["schema_version"] == str(SCHEMA_VERSION)


def test_error_messages_say_what_happened(tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(StoreError, match="empty database"):
        Store(empty)
    with Store(empty, create=True) as store:  # an interrupted creation is completed
        assert store.rows() == []
    text_file = tmp_path / "notes.sqlite"
    text_file.write_text("not a database " * 100)
    with pytest.raises(StoreError, match="not an SQLite database"):
        Store(text_file)


# ---------------------------------------------------------------- leases


def config_of(key):
    return {"spec": "s", "learner": "ntk", "d": 4, "n": 10, "seed": int(key[1:])}


def cells(*keys):
    return [(key, config_of(key)) for key in keys]


def other_owner(host="elsewhere", pid=1):
    return Owner(f"{host}:{pid}:test", host, pid, None)


def test_claims_are_exclusive_and_end_with_the_put(tmp_path):
    with Store(tmp_path / "s.sqlite", create=True) as store:
        me, other = Owner.this_process(), other_owner()
        store.book.register(me, 1, 60)
        store.put(make_row(key="k0"))
        claim = store.book.claim(me, cells("k0", "k1", "k2", "k3"), 2, 60)
        assert claim.claimed == ["k1", "k2"] and claim.done == {"k0": ("ok", 0.5)}
        assert claim.busy == {}
        theirs = store.book.claim(other, cells("k1", "k2", "k3"), 5, 60)
        assert theirs.claimed == ["k3"] and set(theirs.busy) == {"k1", "k2"}
        assert theirs.busy["k1"]["owner"] == me.id
        store.put(make_row(key="k1", seed=1), owner=me)
        assert {x["key"] for x in store.book.leases()} == {"k2", "k3"}
        assert [a["outcome"] for a in store.book.attempts("k1")] == ["stored"]
        assert store.book.claim(other, cells("k1"), 5, 60).done == {"k1": ("ok", 0.5)}
        assert store.book.unregister(me) == 1  # k2 released
        assert [a["outcome"] for a in store.book.attempts("k2")] == ["released"]
        assert store.book.claim(other, cells("k2"), 5, 60).claimed == ["k2"]
        assert len(store.book.attempts("k2")) == 2


def test_an_expired_lease_is_taken_over(tmp_path):
    with Store(tmp_path / "s.sqlite", create=True) as store:
        me, gone = Owner.this_process(), other_owner()
        assert store.book.claim(gone, cells("k1"), 1, 0.2).claimed == ["k1"]
        assert set(store.book.claim(me, cells("k1"), 1, 60).busy) == {"k1"}
        for _ in range(200):  # the lease lasts 0.2 s
            if store.book.leases()[0]["expired"]:
                break
            time.sleep(0.05)
        assert [x["expired"] for x in store.book.leases()] == [True]
        assert store.book.claim(me, cells("k1"), 1, 60).claimed == ["k1"]
        assert [(a["owner"], a["outcome"]) for a in store.book.attempts("k1")] == [
            (gone.id, "expired"),
            (me.id, None),
        ]


def test_heartbeats_keep_a_lease(tmp_path):
    with Store(tmp_path / "s.sqlite", create=True) as store:
        holder, me = other_owner(), Owner.this_process()
        store.book.claim(holder, cells("k1"), 1, 0.5)
        before = store.book.leases()[0]["expires"]
        assert store.book.heartbeat(holder, 60) == 1
        assert store.book.leases()[0]["expires"] > before + 50
        assert set(store.book.claim(me, cells("k1"), 1, 60).busy) == {"k1"}


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    dead = Owner(f"{socket.gethostname()}:{process.pid}:x", socket.gethostname(), process.pid, None)
    alive = Owner(
        f"{socket.gethostname()}:{os.getppid()}:y", socket.gethostname(), os.getppid(), None
    )
    assert not process_alive(process.pid) and process_alive(os.getpid())
    with Store(tmp_path / "s.sqlite", create=True) as store:
        me = Owner.this_process()
        store.book.claim(dead, cells("k1"), 1, 3600)
        store.book.claim(alive, cells("k2"), 1, 3600)
        claim = store.book.claim(me, cells("k1", "k2"), 2, 60)
        assert claim.claimed == ["k1"] and set(claim.busy) == {"k2"}


def test_runners_of_this_host_and_their_slots(tmp_path):
    with Store(tmp_path / "s.sqlite", create=True) as store:
        me = Owner.this_process()
        store.book.register(me, 2, 60)
        store.book.register(other_owner(), 4, 60)  # another host
        store.book.register(other_owner(socket.gethostname(), 2**22 + 7), 3, 60)  # no such pid
        assert store.book.local_slots() == 2
        assert [r["live"] for r in store.book.runners()] == [True, True, False]
        store.book.unregister(me)
        assert store.book.local_slots() == 0
