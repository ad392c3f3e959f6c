"""The results: one row per finished cell (``cells``) and the specs run into the store."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from .leases import LeaseBook, Owner
from .schema import COLUMNS, JSON_COLUMNS, STEERING_ERROR, connect, meta, transaction


class Store:
    """A hierlearn result store.

    Args:
        path: the SQLite file.
        create: create the file (and the tables) if it does not exist; otherwise a missing
            file raises [`StoreError`][hierlearn.experiments.run.store.StoreError] and nothing is
            created.

    Opening a store of an older schema migrates it (see
    [`store`][hierlearn.experiments.run.store]); ``migrated`` is then ``(old version, path of the
    copy)``, else None. ``book`` is its [`LeaseBook`][hierlearn.experiments.run.store.LeaseBook].
    """

    def __init__(self, path, create: bool = False):
        self.path = Path(path)
        self._connection, self.migrated = connect(self.path, create)
        self.book = LeaseBook(self._connection)

    def meta(self) -> dict[str, str]:
        """The ``meta`` table (schema version, releases, migrations)."""
        return meta(self._connection)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------------------- writing

    def put(self, row: dict, owner: Owner | None = None) -> None:
        """Insert (or replace) one result row in its own committed transaction; with
        ``owner``, the same transaction ends its lease of the cell (attempt "stored")."""
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
            if owner is not None:
                self.book.end_stored(row["key"], owner)

    def add_spec(self, name: str, text: str) -> None:
        """Record the text of a spec run into this store (once per distinct text)."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._transaction():
            self._connection.execute(
                "INSERT OR IGNORE INTO specs VALUES (?, ?, ?, ?)", (digest, name, text, now)
            )

    def _transaction(self):
        return transaction(self._connection)

    # -------------------------------------------------------------- reading

    def statuses(self, keys=None) -> dict[str, str]:
        """{key: status} of the stored cells (of ``keys`` only, if given)."""
        rows = self._connection.execute("SELECT key, status FROM cells").fetchall()
        found = dict(rows)
        return found if keys is None else {k: found[k] for k in keys if k in found}

    def results(self) -> dict[str, tuple[str, float | None]]:
        """{key: (status, steering error)} of every stored cell (see `STEERING_ERROR`)."""
        cursor = self._connection.execute(f"SELECT key, status, {STEERING_ERROR} FROM cells")
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
