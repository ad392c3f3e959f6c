"""Leases: which runner computes which cell (the protocol is in
[`store`][hierlearn.experiments.run.store]).

`LeaseBook` holds the ``runners``, ``leases`` and ``attempts`` tables of one store connection;
`Owner` names a runner, `lease_dead` says whether a lease may be taken over.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import time
from dataclasses import dataclass

from .... import __version__
from .schema import (
    ATTEMPT_COLUMNS,
    LEASE_COLUMNS,
    RUNNER_COLUMNS,
    STEERING_ERROR,
    transaction,
)

# How long a lease lasts without a heartbeat, by default (seconds).
DEFAULT_LEASE_SECONDS = 60.0


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
    """What [`LeaseBook.claim`][hierlearn.experiments.run.store.LeaseBook.claim] found: the keys
    it leased to the caller, the keys already stored ({key: (status, steering error)}) and
    the keys leased by others (their lease)."""

    claimed: list
    done: dict
    busy: dict


class LeaseBook:
    """The lease tables of a store, over its connection (`Store.book`)."""

    def __init__(self, connection: sqlite3.Connection):
        self._connection = connection

    def _transaction(self):
        return transaction(self._connection)

    def _select(self, columns: tuple[str, ...], rest: str, parameters=()) -> list[dict]:
        """``SELECT columns rest`` as one dict per row."""
        cursor = self._connection.execute(f"SELECT {', '.join(columns)} {rest}", parameters)
        return [dict(zip(columns, values, strict=True)) for values in cursor]

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
        found = self._select(LEASE_COLUMNS, "FROM leases WHERE key = ?", (key,))
        return found[0] if found else None

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
            for lease in self._select(LEASE_COLUMNS, f"FROM leases WHERE key IN ({marks})", chunk):
                leases[lease["key"]] = lease
        return done, leases

    def leases(self) -> list[dict]:
        """Every lease, oldest first, with ``expired`` (a runner may take it over) added."""
        now = time.time()
        leases = self._select(LEASE_COLUMNS, "FROM leases ORDER BY since, key")
        return [{**lease, "expired": lease_dead(lease, now)} for lease in leases]

    def runners(self) -> list[dict]:
        """Registered runners, oldest first, with ``live`` added (heartbeating, and on this
        host its process still runs)."""
        now = time.time()
        runners = self._select(RUNNER_COLUMNS, "FROM runners ORDER BY started_at, owner")
        return [{**runner, "live": not lease_dead(runner, now)} for runner in runners]

    def local_slots(self, host: str | None = None) -> int:
        """Cells that the live runners of ``host`` (default: this one) run at once."""
        host = host or socket.gethostname()
        return sum(r["slots"] for r in self.runners() if r["live"] and r["host"] == host)

    def attempts(self, key: str | None = None) -> list[dict]:
        """Every claim of a cell (of ``key`` only, if given), in order."""
        where, parameters = ("WHERE key = ?", (key,)) if key is not None else ("", ())
        return self._select(ATTEMPT_COLUMNS, f"FROM attempts {where} ORDER BY id", parameters)

    def end_stored(self, key: str, owner: Owner) -> None:
        """Inside a result's write transaction: ``owner``'s latest attempt of ``key`` ends
        "stored" (even if another runner took the cell over) and its lease is deleted."""
        self._connection.execute(
            "UPDATE attempts SET ended_at = ?, outcome = 'stored' WHERE id = "
            "(SELECT MAX(id) FROM attempts WHERE key = ? AND owner = ?)",
            (time.time(), key, owner.id),
        )
        self._connection.execute("DELETE FROM leases WHERE key = ? AND owner = ?", (key, owner.id))
