"""The SQLite store: rows round-trip, one row per key, WAL, refusal of foreign files, export."""

import sqlite3

import pandas as pd
import pytest

from hierlearn.experiments.store import Store, StoreError, export


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
        "details": {},
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
        assert store.results() == {"k1": ("ok", 0.25)}
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
