"""The store's schema: tables, versions and migrations, and the one path that opens a file.

`connect` opens (or creates) a store file and `prepare` creates its tables, checks its
schema version and migrates an older one, in one write transaction; `check_store` reads the
same version without writing. The tables and the migration rules are described in
[`store`][hierlearn.experiments.run.store].
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from .... import __version__

SCHEMA_VERSION = 2
# Seconds a connection waits for another writer's lock before giving up.
BUSY_TIMEOUT = 60.0
JSON_COLUMNS = ("hyperparameters", "search", "details", "config")
COLUMNS = (
    "key",
    "spec",
    "learner",
    "d",
    "n",
    "seed",
    "status",
    "relative_test_error",
    "relative_train_error",
    "relative_validation_error",
    "seconds",
    "peak_memory_mb",
    "library_version",
    "git_revision",
    "worker",
    "finished_at",
    "error",
    *JSON_COLUMNS,
)
# Statuses that ``run --retry-failed`` runs again; "ok" and "diverged" are final results.
RETRY_STATUSES = ("failed", "timeout")
LEASE_COLUMNS = (
    "key",
    "owner",
    "host",
    "pid",
    "process_start",
    "spec",
    "learner",
    "d",
    "n",
    "seed",
    "since",
    "heartbeat",
    "expires",
    "attempt",
)
RUNNER_COLUMNS = (
    "owner",
    "host",
    "pid",
    "process_start",
    "slots",
    "started_at",
    "heartbeat",
    "expires",
    "library_version",
    "since_attempt",
)
# The error that steers an adaptive search (docs/theory.md §3): a cell's design-set error,
# never its test error. Read with the status by results(), claim() and lease_states().
STEERING_ERROR = "json_extract(details, '$.relative_design_error')"


def steering_error(row: dict) -> float | None:
    """`STEERING_ERROR` of a row that is not stored yet (its ``details`` still a dict)."""
    return (row.get("details") or {}).get("relative_design_error")


ATTEMPT_COLUMNS = ("id", "key", "owner", "host", "pid", "started_at", "ended_at", "outcome")

_SCHEMA_1 = [
    """CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    learner TEXT NOT NULL,
    d INTEGER NOT NULL,
    n INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'diverged', 'timeout')),
    relative_test_error REAL,
    relative_train_error REAL,
    relative_validation_error REAL,
    seconds REAL,
    peak_memory_mb REAL,
    library_version TEXT,
    git_revision TEXT,
    worker TEXT,
    finished_at TEXT,
    error TEXT,
    hyperparameters TEXT,
    search TEXT,
    details TEXT,
    config TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS cells_by_learner ON cells (spec, learner, d, n)",
    """CREATE TABLE IF NOT EXISTS specs (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    text TEXT NOT NULL,
    added_at TEXT NOT NULL
)""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
]
# Schema 2: runners, leases and attempts (cell leases shared by several runners).
_SCHEMA_2 = [
    """CREATE TABLE IF NOT EXISTS runners (
    owner TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    process_start TEXT,
    slots INTEGER NOT NULL,
    started_at REAL NOT NULL,
    heartbeat REAL NOT NULL,
    expires REAL NOT NULL,
    library_version TEXT,
    since_attempt INTEGER NOT NULL DEFAULT 0
)""",
    """CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    outcome TEXT CHECK (outcome IN ('stored', 'released', 'expired'))
)""",
    "CREATE INDEX IF NOT EXISTS attempts_by_key ON attempts (key)",
    """CREATE TABLE IF NOT EXISTS leases (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    process_start TEXT,
    spec TEXT,
    learner TEXT,
    d INTEGER,
    n INTEGER,
    seed INTEGER,
    since REAL NOT NULL,
    heartbeat REAL NOT NULL,
    expires REAL NOT NULL,
    attempt INTEGER NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS leases_by_owner ON leases (owner)",
]
# MIGRATIONS[v]: the statements that take a schema-v store to schema v + 1.
MIGRATIONS = {1: _SCHEMA_2}

_log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store file is missing, unreadable, not a hierlearn store, or of a newer schema."""


def transaction(connection: sqlite3.Connection):
    """A ``BEGIN IMMEDIATE`` write transaction on ``connection``: committed when the block
    ends, rolled back when it raises (one left open by an interrupted call is rolled back
    first)."""

    class _Transaction:
        def __enter__(self):
            if connection.in_transaction:  # left open by an interrupted call
                connection.execute("ROLLBACK")
            connection.execute("BEGIN IMMEDIATE")

        def __exit__(self, kind, value, tb):
            if connection.in_transaction:
                connection.execute("ROLLBACK" if kind else "COMMIT")

    return _Transaction()


def tables(connection: sqlite3.Connection) -> set[str]:
    return {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}


def meta(connection: sqlite3.Connection) -> dict[str, str]:
    """The ``meta`` table (schema version, releases, migrations)."""
    return dict(connection.execute("SELECT key, value FROM meta").fetchall())


def schema_version(path, meta: dict) -> int:
    """The schema version that ``meta`` records, checked: this release opens it (its own or
    an older one that it migrates), else
    [`StoreError`][hierlearn.experiments.run.store.StoreError]."""
    value = meta.get("schema_version")
    try:
        version = int(value)
    except (TypeError, ValueError):
        raise StoreError(f"{path}: the store records no valid schema version ({value!r})") from None
    if version > SCHEMA_VERSION:
        raise StoreError(newer_schema_message(path, version, meta))
    if version < SCHEMA_VERSION and version not in MIGRATIONS:
        raise StoreError(
            f"{path}: store schema version {version} cannot be migrated to {SCHEMA_VERSION} "
            f"by hierlearn {__version__}"
        )
    return version


def connect(path: Path, create: bool) -> tuple[sqlite3.Connection, tuple[int, Path] | None]:
    """Open the store at ``path`` (creating it when ``create``): the connection, and
    ``(old version, path of the copy)`` when opening migrated it, else None."""
    if not path.exists():
        if not create:
            raise StoreError(f"no store at {path}")
        if not path.parent.is_dir():
            raise StoreError(f"directory {path.parent} does not exist")
    try:
        connection = sqlite3.connect(
            f"file:{path}?mode={'rwc' if create else 'rw'}",
            uri=True,
            timeout=BUSY_TIMEOUT,
            isolation_level=None,
        )
    except sqlite3.Error as error:
        raise StoreError(f"cannot open {path}: {error}") from None
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            return connection, prepare(connection, path, create)
        except StoreError:
            connection.close()
            raise
        except sqlite3.OperationalError as error:
            # A read-only connection of another process (a status check, a report) that
            # is recovering the WAL index after a killed writer makes the file read-only
            # for a moment: transient, so retry; any other error is final.
            if "readonly" in str(error) and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            connection.close()
            raise StoreError(describe_error(path, error)) from None
        except sqlite3.Error as error:
            connection.close()
            raise StoreError(describe_error(path, error)) from None


def prepare(connection: sqlite3.Connection, path: Path, create: bool) -> tuple[int, Path] | None:
    """WAL mode, then in one write transaction: the tables of a new store, the version check,
    and the migration of an older schema (its result, see `connect`)."""
    found = tables(connection)
    if found and "meta" not in found:
        # Never write into a database that is not ours.
        raise StoreError(not_ours(path, found))
    if not found and not create:
        raise StoreError(
            f"{path} is an empty database, not a hierlearn store (a store whose "
            "creation was interrupted: `hierlearn run` creates it again)"
        )
    if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        # Changing the journal mode needs the file to itself: retry while others hold it.
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    connection.execute("PRAGMA synchronous=FULL")
    # One write transaction: concurrent creators (and migrators) are serialised; the
    # second finds the work done. A kill during creation leaves an empty file.
    with transaction(connection):
        found = tables(connection)
        if found and "meta" not in found:
            raise StoreError(not_ours(path, found))
        if not found:
            for statement in _SCHEMA_1 + _SCHEMA_2:
                connection.execute(statement)
            for key, value in (
                ("schema_version", str(SCHEMA_VERSION)),
                ("created_with", __version__),
                ("schema_written_with", __version__),
            ):
                connection.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
        version = schema_version(path, meta(connection))
        if version < SCHEMA_VERSION:
            return migrate(connection, path, version)
    return None


def migrate(connection: sqlite3.Connection, path: Path, version: int) -> tuple[int, Path]:
    """Copy the file aside, then apply MIGRATIONS in the (open) write transaction."""
    backup = path.with_name(f"{path.name}.v{version}.bak")
    index = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}.v{version}.{index}.bak")
        index += 1
    # A reader connection copies the last committed state (WAL readers are not blocked
    # by this connection's write lock).
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    try:
        target = sqlite3.connect(backup)
        try:
            reader.backup(target)
        finally:
            target.close()
    finally:
        reader.close()
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    old = version
    while version < SCHEMA_VERSION:
        for statement in MIGRATIONS[version]:
            connection.execute(statement)
        version += 1
    record = json.dumps({"at": now, "by": __version__, "copy": backup.name, "to": version})
    for key, value in (
        ("schema_version", str(version)),
        ("schema_written_with", __version__),
        (f"migrated_from_{old}", record),
    ):
        connection.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
    _log.warning(
        "hierlearn: migrated store %s from schema version %d to %d; the original is kept as %s",
        path,
        old,
        version,
        backup,
    )
    return old, backup


def not_ours(path, tables) -> str:
    return (
        f"{path} exists but is not a hierlearn store (an SQLite database without a meta "
        f"table; its tables: {', '.join(sorted(tables))})"
    )


def newer_schema_message(path, version: int, meta: dict) -> str:
    writer = meta.get("schema_written_with") or meta.get("created_with") or "an unknown release"
    return (
        f"{path} has store schema version {version}, written by hierlearn {writer}; this "
        f"hierlearn ({__version__}) reads store schema versions up to {SCHEMA_VERSION}. "
        f"Upgrade hierlearn to {writer} or later, or export the rows with that release "
        f"(`hierlearn export --store {path} --format csv`). The store was not modified."
    )


def describe_error(path, error: sqlite3.Error) -> str:
    """What an SQLite error met while opening a store means, in words."""
    code = getattr(error, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_NOTADB or "file is not a database" in str(error):
        return f"{path} is not a hierlearn store: it is not an SQLite database ({error})"
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(error):
        return (
            f"{path}: another process kept the store locked for over {BUSY_TIMEOUT:.0f} s "
            f"({error}); try again"
        )
    if code == sqlite3.SQLITE_CORRUPT or "malformed" in str(error):
        return f"{path}: the store file is damaged ({error})"
    return f"{path}: cannot open the store: {error}"


def check_store(path) -> None:
    """Raise [`StoreError`][hierlearn.experiments.run.store.StoreError] unless ``path`` is
    absent, an empty database (a store whose creation was interrupted) or a hierlearn store
    that this release can open (its schema or an older one, which opening migrates). Only
    reads the file."""
    path = Path(path)
    if not path.exists():
        return
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
        try:
            found = tables(connection)
            if not found:
                return
            if "meta" not in found:
                raise StoreError(not_ours(path, found))
            recorded = meta(connection)
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise StoreError(describe_error(path, error)) from None
    schema_version(path, recorded)
