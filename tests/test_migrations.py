"""Store schema versions: a store written by the schema-1 code opens with this code (migrated
in place after a copy, every row unchanged); a store of a newer schema is refused."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from hierlearn.cli import main
from hierlearn.experiments.run.store import SCHEMA_VERSION, Store, StoreError, check_store

DATA = Path(__file__).parent / "data"
TINY = Path(__file__).parents[1] / "examples" / "specs" / "tiny.yaml"


def v1_copy(tmp_path) -> Path:
    path = tmp_path / "store.sqlite"
    shutil.copyfile(DATA / "store-v1.sqlite", path)
    return path


def schema_version(path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(
            connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        )
    finally:
        connection.close()


def test_the_v1_store_migrates_and_reads_back_unchanged(tmp_path):
    expected = json.loads((DATA / "store-v1.json").read_text())
    path = v1_copy(tmp_path)
    check_store(path)  # an older schema is accepted (opening migrates it)
    assert schema_version(path) == 1
    with Store(path) as store:
        assert store.migrated == (1, tmp_path / "store.sqlite.v1.bak")
        assert store.rows() == expected["rows"]
        assert store.specs() == expected["specs"]
        assert store.integrity_check() == "ok"
        meta = store.meta()
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert json.loads(meta["migrated_from_1"])["copy"] == "store.sqlite.v1.bak"
        assert store.book.leases() == [] and store.book.attempts() == []
    # The copy is the untouched version-1 store.
    backup = tmp_path / "store.sqlite.v1.bak"
    assert schema_version(backup) == 1
    connection = sqlite3.connect(backup)
    tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    count = connection.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
    connection.close()
    assert "leases" not in tables and count == len(expected["rows"])
    # Opened again: already migrated, no second copy; still the same rows.
    with Store(path) as store:
        assert store.migrated is None
        assert store.rows() == expected["rows"]
    assert sorted(p.name for p in tmp_path.iterdir() if ".bak" in p.name) == ["store.sqlite.v1.bak"]


def test_the_v1_store_resumes_from_the_command_line(tmp_path, capsys):
    expected = json.loads((DATA / "store-v1.json").read_text())
    path = v1_copy(tmp_path)
    assert main(["status", "--store", str(path)]) == 0
    assert f"{len(expected['rows'])} cells" in capsys.readouterr().out
    assert schema_version(path) == SCHEMA_VERSION


def newer_store(tmp_path) -> Path:
    path = tmp_path / "newer.sqlite"
    with Store(path, create=True):
        pass
    connection = sqlite3.connect(path)
    connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    connection.execute("UPDATE meta SET value = '7.0.0' WHERE key = 'schema_written_with'")
    connection.commit()
    connection.close()
    return path


def test_a_newer_schema_is_refused_and_left_alone(tmp_path):
    path = newer_store(tmp_path)
    before = path.read_bytes()
    for opener in (check_store, Store, lambda p: Store(p, create=True)):
        with pytest.raises(StoreError) as caught:
            opener(path)
        message = str(caught.value)
        assert "schema version 99" in message and "7.0.0" in message
        assert f"up to {SCHEMA_VERSION}" in message and "hierlearn export" in message
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.bak"))


@pytest.mark.parametrize("command", ["status", "export", "run"])
def test_a_newer_schema_exits_2_from_the_command_line(tmp_path, capsys, command):
    path = newer_store(tmp_path)
    before = path.read_bytes()
    arguments = {
        "status": ["status", "--store", str(path)],
        "export": ["export", "--store", str(path), "--format", "csv"],
        "run": ["run", str(TINY), "--store", str(path), "--quiet"],
    }[command]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert "schema version 99" in error and "7.0.0" in error
    assert path.read_bytes() == before
