"""The result store: one SQLite file in WAL mode, one row per finished cell, and the leases of
the cells that runners are computing.

Only driver processes write (a runner's workers compute and hand their rows back). Each
finished cell is committed in its own transaction (``synchronous=FULL``), so a sweep killed at
any moment leaves every committed row intact and no partial one; ``run`` on the same store
then skips the keys already present. Tables:

``cells``
    ``key`` (primary key, see `hierlearn.experiments.cells.cell_key`), ``spec``,
    ``learner``, ``d``, ``n``, ``seed``, ``status``, ``relative_test_error``,
    ``relative_train_error``, ``relative_validation_error``, ``seconds``, ``peak_memory_mb``,
    ``library_version``, ``git_revision``, ``worker``, ``finished_at``, ``error`` (text), and
    the JSON columns ``hyperparameters``, ``search``, ``details``, ``config``.
``specs``
    the text of every spec run into the store (``name``, ``sha256``, ``text``, ``added_at``).
``meta``
    ``schema_version``, ``created_with`` (the hierlearn release that created the file),
    ``schema_written_with`` (the release that created or last migrated its schema) and one
    ``migrated_from_V`` entry per migration (when, by which release, where the copy is).
``runners`` (schema 2)
    one row per live runner: ``owner`` (``host:pid:random``), ``host``, ``pid``,
    ``process_start``, ``slots`` (cells it runs at once on this host), ``started_at``,
    ``heartbeat``, ``expires``, ``library_version``, ``since_attempt`` (see
    [`Store.register`][hierlearn.experiments.store.Store.register]).
``leases`` (schema 2)
    one row per cell being computed: ``key``, ``owner``, ``host``, ``pid``,
    ``process_start``, the cell's ``spec``/``learner``/``d``/``n``/``seed``, ``since``,
    ``heartbeat``, ``expires`` and the ``attempt`` it belongs to.
``attempts`` (schema 2)
    every claim of a cell, kept: ``id``, ``key``, ``owner``, ``host``, ``pid``,
    ``started_at``, ``ended_at`` and ``outcome`` ("stored", "released", "expired" or NULL while
    it runs). The number of fits of a cell is its number of attempts.

Times in these three tables are seconds since the epoch (``time.time()``).

Leases. Several runners (processes on the store's host, each with its own executor) may
share one store; they split the work through leases (one host per store file: SQLite's
write-ahead log needs memory shared between the processes, which a network file system does
not give; the lease rows record the host all the same, so that a lease of another host is
never mistaken for a dead process of this one):

* a runner registers in ``runners`` and claims a cell by inserting its ``leases`` row (and an
  ``attempts`` row) in the same ``BEGIN IMMEDIATE`` transaction that checks the cell is neither
  stored nor leased, so two runners never claim the same cell;
* a runner skips cells leased by others and comes back to them: when it has nothing else to
  do it waits until they are stored (their result then feeds its plan, so the adaptive n*
  searches of all runners follow the same path) or their lease ends;
* a thread of the driver extends its leases (``heartbeat``, ``expires = now + lease``) every
  quarter of the lease duration; a lease past its ``expires`` belongs to a runner that stopped
  heartbeating (killed, frozen, its machine lost) and any runner takes the cell over; on the
  same host a lease whose process is gone (no such pid, a zombie, or a pid reused by a
  process started later) is taken over at once;
* storing a result deletes its lease and closes its attempt in the put's transaction; a
  clean stop (end of the sweep, Ctrl-C, SIGTERM) releases the runner's remaining leases.

In the normal case every cell is computed once; a cell is computed again only when its
runner died or stopped heartbeating for a whole lease. The lease duration is an argument of
`hierlearn.experiments.runner.run_spec` (``HIERLEARN_LEASE_SECONDS`` in the
environment, default 60 s).

Schema versions and migrations. ``meta.schema_version`` is the version of the file's schema
(`SCHEMA_VERSION` is the one this code writes). Opening a store of an older version
copies the file aside first (``STORE.vOLD.bak``, a consistent SQLite copy) and then migrates it
in place, all inside one write transaction: a concurrent opener waits and finds it done. A
store of a newer version is refused ([`StoreError`][hierlearn.experiments.store.StoreError] naming
both versions, the release
that wrote it and how to export its rows); nothing is written to it. Migrations only ever add
tables, columns or meta entries: stored rows read back unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__

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


# ---------------------------------------------------------------- runner identity


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (Linux; None elsewhere or when the
    process is gone): [0] its state, [19] its start time in clock ticks since boot."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def process_alive(pid: int, process_start: str | None = None) -> bool:
    """Whether process ``pid`` of this host still runs (and is the one started at
    ``process_start``, when known): False for no such process, a zombie, or a reused pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc: the pid exists
    if fields and fields[0] in ("Z", "X"):
        return False
    return process_start is None or len(fields) <= 19 or fields[19] == process_start


@dataclass(frozen=True)
class Owner:
    """Who holds a lease: a runner (driver process), ``id`` unique across hosts and time."""

    id: str
    host: str
    pid: int
    process_start: str | None

    @classmethod
    def this_process(cls) -> Owner:
        host, pid = socket.gethostname(), os.getpid()
        return cls(f"{host}:{pid}:{secrets.token_hex(4)}", host, pid, _process_start(pid))


def lease_dead(lease: dict, now: float) -> bool:
    """A lease that any runner may take over: expired, or held by a process of this host that
    is gone."""
    if lease["expires"] <= now:
        return True
    return lease["host"] == socket.gethostname() and not process_alive(
        lease["pid"], lease["process_start"]
    )


@dataclass
class Claim:
    """What [`Store.claim`][hierlearn.experiments.store.Store.claim] found: the keys it leased to
    the caller, the keys already
    stored ({key: (status, steering error)}) and the keys leased by others (their lease)."""

    claimed: list
    done: dict
    busy: dict


# ---------------------------------------------------------------- the store


class Store:
    """A hierlearn result store.

    Args:
        path: the SQLite file.
        create: create the file (and the tables) if it does not exist; otherwise a missing
            file raises [`StoreError`][hierlearn.experiments.store.StoreError] and nothing is
            created.

    Opening a store of an older schema migrates it (see the module docstring);
    ``migrated`` is then ``(old version, path of the copy)``, else None.
    """

    def __init__(self, path, create: bool = False):
        self.path = Path(path)
        self.migrated: tuple[int, Path] | None = None
        if not self.path.exists():
            if not create:
                raise StoreError(f"no store at {self.path}")
            if not self.path.parent.is_dir():
                raise StoreError(f"directory {self.path.parent} does not exist")
        try:
            self._connection = sqlite3.connect(
                f"file:{self.path}?mode={'rwc' if create else 'rw'}",
                uri=True,
                timeout=BUSY_TIMEOUT,
                isolation_level=None,
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot open {self.path}: {error}") from None
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                self._open(create)
                break
            except StoreError:
                self._connection.close()
                raise
            except sqlite3.OperationalError as error:
                # A read-only connection of another process (a status check, a report) that
                # is recovering the WAL index after a killed writer makes the file read-only
                # for a moment: transient, so retry; any other error is final.
                if "readonly" in str(error) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                self._connection.close()
                raise StoreError(describe_error(self.path, error)) from None
            except sqlite3.Error as error:
                self._connection.close()
                raise StoreError(describe_error(self.path, error)) from None

    def _tables(self) -> set[str]:
        return {r[0] for r in self._connection.execute("SELECT name FROM sqlite_master")}

    def _open(self, create: bool) -> None:
        connection = self._connection
        tables = self._tables()
        if tables and "meta" not in tables:
            # Never write into a database that is not ours.
            raise StoreError(not_ours(self.path, tables))
        if not tables and not create:
            raise StoreError(
                f"{self.path} is an empty database, not a hierlearn store (a store whose "
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
        with self._transaction():
            tables = self._tables()
            if tables and "meta" not in tables:
                raise StoreError(not_ours(self.path, tables))
            if not tables:
                for statement in _SCHEMA_1 + _SCHEMA_2:
                    connection.execute(statement)
                for key, value in (
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("created_with", __version__),
                    ("schema_written_with", __version__),
                ):
                    connection.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
            version = self._version()
            if version > SCHEMA_VERSION:
                raise StoreError(newer_schema_message(self.path, version, self._meta()))
            if version < SCHEMA_VERSION:
                self._migrate(version)

    def _meta(self) -> dict[str, str]:
        return dict(self._connection.execute("SELECT key, value FROM meta").fetchall())

    def _version(self) -> int:
        value = self._meta().get("schema_version")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise StoreError(
                f"{self.path}: the store records no valid schema version ({value!r})"
            ) from None

    def _migrate(self, version: int) -> None:
        """Copy the file aside, then apply MIGRATIONS in this (open) write transaction."""
        if version not in MIGRATIONS:
            raise StoreError(
                f"{self.path}: store schema version {version} cannot be migrated to "
                f"{SCHEMA_VERSION} by hierlearn {__version__}"
            )
        backup = self.path.with_name(f"{self.path.name}.v{version}.bak")
        index = 1
        while backup.exists():
            backup = self.path.with_name(f"{self.path.name}.v{version}.{index}.bak")
            index += 1
        # A reader connection copies the last committed state (WAL readers are not blocked
        # by this connection's write lock).
        reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
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
                self._connection.execute(statement)
            version += 1
        record = json.dumps({"at": now, "by": __version__, "copy": backup.name, "to": version})
        for key, value in (
            ("schema_version", str(version)),
            ("schema_written_with", __version__),
            (f"migrated_from_{old}", record),
        ):
            self._connection.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        self.migrated = (old, backup)
        _log.warning(
            "hierlearn: migrated store %s from schema version %d to %d; the original is kept as %s",
            self.path,
            old,
            version,
            backup,
        )

    def meta(self) -> dict[str, str]:
        """The ``meta`` table (schema version, releases, migrations)."""
        return self._meta()

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
                key = row["key"]
                # The owner's latest attempt, even if another runner took the cell over.
                self._connection.execute(
                    "UPDATE attempts SET ended_at = ?, outcome = 'stored' WHERE id = "
                    "(SELECT MAX(id) FROM attempts WHERE key = ? AND owner = ?)",
                    (time.time(), key, owner.id),
                )
                self._connection.execute(
                    "DELETE FROM leases WHERE key = ? AND owner = ?", (key, owner.id)
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
                if connection.in_transaction:  # left open by an interrupted call
                    connection.execute("ROLLBACK")
                connection.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, value, tb):
                if connection.in_transaction:
                    connection.execute("ROLLBACK" if kind else "COMMIT")

        return _Transaction()

    # -------------------------------------------------------------- leases

    def register(self, owner: Owner, slots: int, lease_seconds: float) -> int:
        """Record a runner (``slots``: cells it runs at once on this host); returns its
        ``since_attempt``: the attempts after it belong to this runner's session - the one of
        the runners already live, if any (so that runners started together with
        ``--retry-failed`` retry each failed cell once between them)."""
        now = time.time()
        with self._transaction():
            since = self._connection.execute(
                "SELECT COALESCE(MAX(id), 0) FROM attempts"
            ).fetchone()[0]
            live = [r["since_attempt"] for r in self.runners() if r["live"]]
            since = min([since, *live])
            self._connection.execute(
                f"INSERT OR REPLACE INTO runners ({', '.join(RUNNER_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(RUNNER_COLUMNS))})",
                (
                    owner.id,
                    owner.host,
                    owner.pid,
                    owner.process_start,
                    slots,
                    now,
                    now,
                    now + lease_seconds,
                    __version__,
                    since,
                ),
            )
            # Forget runners that have been gone for a day (a killed runner leaves its row).
            self._connection.execute("DELETE FROM runners WHERE expires < ?", (now - 86400,))
        return since

    def unregister(self, owner: Owner) -> int:
        """A clean stop: release every lease of ``owner`` (attempt "released") and remove its
        runner row; returns the number of leases released."""
        now = time.time()
        with self._transaction():
            self._connection.execute(
                "UPDATE attempts SET ended_at = ?, outcome = 'released' WHERE id IN "
                "(SELECT attempt FROM leases WHERE owner = ?)",
                (now, owner.id),
            )
            released = self._connection.execute(
                "DELETE FROM leases WHERE owner = ?", (owner.id,)
            ).rowcount
            self._connection.execute("DELETE FROM runners WHERE owner = ?", (owner.id,))
        return released

    def heartbeat(self, owner: Owner, lease_seconds: float) -> int:
        """Extend every lease of ``owner`` (and its runner row) by ``lease_seconds`` from now;
        returns the number of leases it holds."""
        now = time.time()
        with self._transaction():
            held = self._connection.execute(
                "UPDATE leases SET heartbeat = ?, expires = ? WHERE owner = ?",
                (now, now + lease_seconds, owner.id),
            ).rowcount
            self._connection.execute(
                "UPDATE runners SET heartbeat = ?, expires = ? WHERE owner = ?",
                (now, now + lease_seconds, owner.id),
            )
        return held

    def claim(
        self,
        owner: Owner,
        cells: list[tuple[str, dict]],
        limit: int,
        lease_seconds: float,
        retry: frozenset | set = frozenset(),
        since_attempt: int = 0,
    ) -> Claim:
        """Lease up to ``limit`` of ``cells`` ((key, config) pairs, in order) to ``owner``.

        One write transaction looks at the cells in order until ``limit`` are claimed: a
        stored cell is reported in ``done`` (unless its key is in ``retry`` and no attempt
        after ``since_attempt`` stored it), a cell leased by another live runner in ``busy``;
        any other is leased (taking over a dead lease, whose attempt becomes "expired").
        """
        now = time.time()
        result = Claim([], {}, {})
        connection = self._connection
        with self._transaction():
            for key, config in cells:
                if len(result.claimed) >= limit:
                    break
                stored = connection.execute(
                    f"SELECT status, {STEERING_ERROR} FROM cells WHERE key = ?", (key,)
                ).fetchone()
                if stored is not None and (
                    key not in retry
                    or connection.execute(
                        "SELECT 1 FROM attempts WHERE key = ? AND outcome = 'stored' AND id > ?",
                        (key, since_attempt),
                    ).fetchone()
                ):
                    result.done[key] = tuple(stored)
                    continue
                lease = self._lease(key)
                if lease is not None:
                    if lease["owner"] == owner.id:
                        result.claimed.append(key)
                        continue
                    if not lease_dead(lease, now):
                        result.busy[key] = lease
                        continue
                    connection.execute(
                        "UPDATE attempts SET ended_at = ?, outcome = 'expired' WHERE id = ?",
                        (now, lease["attempt"]),
                    )
                    connection.execute("DELETE FROM leases WHERE key = ?", (key,))
                attempt = connection.execute(
                    "INSERT INTO attempts (key, owner, host, pid, started_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (key, owner.id, owner.host, owner.pid, now),
                ).lastrowid
                connection.execute(
                    f"INSERT INTO leases ({', '.join(LEASE_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(LEASE_COLUMNS))})",
                    (
                        key,
                        owner.id,
                        owner.host,
                        owner.pid,
                        owner.process_start,
                        config.get("spec"),
                        config.get("learner"),
                        config.get("d"),
                        config.get("n"),
                        config.get("seed"),
                        now,
                        now,
                        now + lease_seconds,
                        attempt,
                    ),
                )
                result.claimed.append(key)
        return result

    def _lease(self, key: str) -> dict | None:
        values = self._connection.execute(
            f"SELECT {', '.join(LEASE_COLUMNS)} FROM leases WHERE key = ?", (key,)
        ).fetchone()
        return dict(zip(LEASE_COLUMNS, values, strict=True)) if values else None

    def lease_states(self, keys) -> tuple[dict, dict]:
        """({key: (status, error)} of the stored ``keys``, {key: lease} of the others' leases)
        - a read, no lock taken."""
        keys = list(keys)
        done, leases = {}, {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for key, status, error in self._connection.execute(
                f"SELECT key, status, {STEERING_ERROR} FROM cells WHERE key IN ({marks})",
                chunk,
            ):
                done[key] = (status, error)
            for values in self._connection.execute(
                f"SELECT {', '.join(LEASE_COLUMNS)} FROM leases WHERE key IN ({marks})", chunk
            ):
                lease = dict(zip(LEASE_COLUMNS, values, strict=True))
                leases[lease["key"]] = lease
        return done, leases

    def leases(self) -> list[dict]:
        """Every lease, oldest first, with ``expired`` (a runner may take it over) added."""
        now = time.time()
        cursor = self._connection.execute(
            f"SELECT {', '.join(LEASE_COLUMNS)} FROM leases ORDER BY since, key"
        )
        result = []
        for values in cursor.fetchall():
            lease = dict(zip(LEASE_COLUMNS, values, strict=True))
            lease["expired"] = lease_dead(lease, now)
            result.append(lease)
        return result

    def runners(self) -> list[dict]:
        """Registered runners, oldest first, with ``live`` added (heartbeating, and on this
        host its process still runs)."""
        now = time.time()
        cursor = self._connection.execute(
            f"SELECT {', '.join(RUNNER_COLUMNS)} FROM runners ORDER BY started_at, owner"
        )
        result = []
        for values in cursor.fetchall():
            runner = dict(zip(RUNNER_COLUMNS, values, strict=True))
            runner["live"] = not lease_dead(runner, now)
            result.append(runner)
        return result

    def local_slots(self, host: str | None = None) -> int:
        """Cells that the live runners of ``host`` (default: this one) run at once."""
        host = host or socket.gethostname()
        return sum(r["slots"] for r in self.runners() if r["live"] and r["host"] == host)

    def attempts(self, key: str | None = None) -> list[dict]:
        """Every claim of a cell (of ``key`` only, if given), in order."""
        where, parameters = ("WHERE key = ?", (key,)) if key is not None else ("", ())
        cursor = self._connection.execute(
            f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM attempts {where} ORDER BY id", parameters
        )
        return [dict(zip(ATTEMPT_COLUMNS, values, strict=True)) for values in cursor]

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
    """Raise [`StoreError`][hierlearn.experiments.store.StoreError] unless ``path`` is absent, an
    empty database (a store whose
    creation was interrupted) or a hierlearn store that this release can open (its schema or
    an older one, which opening migrates). Only reads the file."""
    path = Path(path)
    if not path.exists():
        return
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
        try:
            tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
            if not tables:
                return
            if "meta" not in tables:
                raise StoreError(not_ours(path, tables))
            meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise StoreError(describe_error(path, error)) from None
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
