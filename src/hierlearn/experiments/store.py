"""The result store: one SQLite file in WAL mode, one row per finished cell.

Only the driver process writes. Each finished cell is committed in its own transaction
(``synchronous=FULL``), so a sweep killed at any moment leaves every committed row intact and
no partial one; ``run`` on the same store then skips the keys already present. The table:

``cells``
    ``key`` (primary key, see :func:`hierlearn.experiments.cells.cell_key`), ``spec``,
    ``learner``, ``d``, ``n``, ``seed``, ``status``, ``relative_test_error``,
    ``relative_train_error``, ``relative_validation_error``, ``seconds``, ``peak_memory_mb``,
    ``library_version``, ``git_revision``, ``worker``, ``finished_at``, ``error`` (text), and
    the JSON columns ``hyperparameters``, ``search``, ``details``, ``config``.
``specs``
    the text of every spec run into the store (``name``, ``sha256``, ``text``, ``added_at``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

SCHEMA_VERSION = 1
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
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
);
CREATE INDEX IF NOT EXISTS cells_by_learner ON cells (spec, learner, d, n);
CREATE TABLE IF NOT EXISTS specs (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    text TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StoreError(RuntimeError):
    """The store file is missing, unreadable or not a hierlearn store."""


class Store:
    """A hierlearn result store.

    Args:
        path: the SQLite file.
        create: create the file (and the tables) if it does not exist; otherwise a missing
            file raises :class:`StoreError` and nothing is created.
    """

    def __init__(self, path, create: bool = False):
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise StoreError(f"no store at {self.path}")
            if not self.path.parent.is_dir():
                raise StoreError(f"directory {self.path.parent} does not exist")
        existed = self.path.exists()
        try:
            mode = "rwc" if create else "rw"
            self._connection = sqlite3.connect(
                f"file:{self.path}?mode={mode}", uri=True, timeout=30.0, isolation_level=None
            )
            tables = {r[0] for r in self._connection.execute("SELECT name FROM sqlite_master")}
            if existed and tables and "meta" not in tables:
                # Never write into a database that is not ours.
                self._connection.close()
                raise StoreError(f"{self.path} exists but is not a hierlearn store")
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
            if create and "meta" not in tables:
                # One transaction: a kill during creation leaves an empty file, not half a schema.
                self._connection.executescript(
                    f"BEGIN; {_SCHEMA} INSERT INTO meta VALUES ('schema_version', "
                    f"'{SCHEMA_VERSION}'); COMMIT;"
                )
            version = self._connection.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path} is not a hierlearn store: {error}") from None
        if version is None or int(version[0]) != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: unsupported store schema version {version}")

    def close(self) -> None:
        self._connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------------------- writing

    def put(self, row: dict) -> None:
        """Insert (or replace) one result row in its own committed transaction."""
        values = []
        for column in COLUMNS:
            value = row.get(column)
            if column in JSON_COLUMNS:
                value = json.dumps(value if value is not None else {}, sort_keys=True)
            values.append(value)
        placeholders = ", ".join("?" * len(COLUMNS))
        with self._transaction():
            self._connection.execute(
                f"INSERT OR REPLACE INTO cells ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                values,
            )

    def add_spec(self, name: str, text: str) -> None:
        """Record the text of a spec run into this store (once per distinct text)."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._transaction():
            self._connection.execute(
                "INSERT OR IGNORE INTO specs VALUES (?, ?, ?, ?)", (digest, name, text, now)
            )

    def _transaction(self):
        connection = self._connection

        class _Transaction:
            def __enter__(self):
                connection.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, value, tb):
                connection.execute("ROLLBACK" if kind else "COMMIT")

        return _Transaction()

    # -------------------------------------------------------------- reading

    def statuses(self, keys=None) -> dict[str, str]:
        """{key: status} of the stored cells (of ``keys`` only, if given)."""
        rows = self._connection.execute("SELECT key, status FROM cells").fetchall()
        found = dict(rows)
        return found if keys is None else {k: found[k] for k in keys if k in found}

    def results(self) -> dict[str, tuple[str, float | None]]:
        """{key: (status, relative_test_error)} of every stored cell."""
        cursor = self._connection.execute("SELECT key, status, relative_test_error FROM cells")
        return {key: (status, error) for key, status, error in cursor}

    def get(self, key: str) -> dict | None:
        """The stored row of ``key`` with its JSON columns decoded, or None."""
        rows = self.rows("key = ?", (key,))
        return rows[0] if rows else None

    def rows(self, where: str = "1", parameters: tuple = ()) -> list[dict]:
        """Rows as dicts (JSON columns decoded), ordered by (spec, learner, d, n, seed)."""
        cursor = self._connection.execute(
            f"SELECT {', '.join(COLUMNS)} FROM cells WHERE {where} "
            "ORDER BY spec, learner, d, n, seed, key",
            parameters,
        )
        result = []
        for values in cursor.fetchall():
            row = dict(zip(COLUMNS, values, strict=True))
            for column in JSON_COLUMNS:
                row[column] = json.loads(row[column]) if row[column] else None
            result.append(row)
        return result

    def counts(self) -> list[tuple[str, str, str, int]]:
        """(spec, learner, status, count) for every combination present."""
        return self._connection.execute(
            "SELECT spec, learner, status, COUNT(*) FROM cells "
            "GROUP BY spec, learner, status ORDER BY spec, learner, status"
        ).fetchall()

    def specs(self) -> list[dict]:
        """The recorded specs, oldest first."""
        cursor = self._connection.execute(
            "SELECT name, sha256, text, added_at FROM specs ORDER BY added_at, rowid"
        )
        return [dict(zip(("name", "sha256", "text", "added_at"), r, strict=True)) for r in cursor]

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result ("ok" when the file is sound)."""
        return self._connection.execute("PRAGMA integrity_check").fetchone()[0]

    def dataframe(self):
        """All rows as a pandas DataFrame; JSON columns kept as JSON text."""
        import pandas as pd

        return pd.read_sql_query(
            f"SELECT {', '.join(COLUMNS)} FROM cells ORDER BY spec, learner, d, n, seed, key",
            self._connection,
        )


def check_store(path) -> None:
    """Raise :class:`StoreError` unless ``path`` is absent, an empty database (a store whose
    creation was interrupted) or a hierlearn store of this schema. Only reads the file."""
    path = Path(path)
    if not path.exists():
        return
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
        try:
            tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
            if not tables:
                return
            if "meta" not in tables:
                raise StoreError(f"{path} exists but is not a hierlearn store")
            version = connection.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{path} is not a hierlearn store: {error}") from None
    if version is None or int(version[0]) != SCHEMA_VERSION:
        raise StoreError(f"{path}: unsupported store schema version {version}")


def export(store: Store, path, file_format: str) -> int:
    """Write every row to ``path`` as "csv" or "parquet"; returns the number of rows."""
    frame = store.dataframe()
    if file_format == "csv":
        frame.to_csv(path, index=False)
    elif file_format == "parquet":
        frame.to_parquet(path, index=False)
    else:
        raise ValueError(f"format={file_format!r} is not valid; accepted values: 'csv', 'parquet'")
    return len(frame)
