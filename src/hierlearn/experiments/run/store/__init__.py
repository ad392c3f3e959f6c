"""The result store: one SQLite file in WAL mode, one row per finished cell, and the leases of
the cells that runners are computing.

Only driver processes write (a runner's workers compute and hand their rows back). Each
finished cell is committed in its own transaction (``synchronous=FULL``), so a sweep killed at
any moment leaves every committed row intact and no partial one; ``run`` on the same store
then skips the keys already present. Tables:

``cells``
    ``key`` (primary key, see `hierlearn.experiments.run.cells.cell_key`), ``spec``,
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
    [`LeaseBook.register`][hierlearn.experiments.run.store.LeaseBook.register]).
``leases`` (schema 2)
    one row per cell being computed: ``key``, ``owner``, ``host``, ``pid``,
    ``process_start``, the cell's ``spec``/``learner``/``d``/``n``/``seed``, ``since``,
    ``heartbeat``, ``expires`` and the ``attempt`` it belongs to.
``attempts`` (schema 2)
    every claim of a cell, kept: ``id``, ``key``, ``owner``, ``host``, ``pid``,
    ``started_at``, ``ended_at`` and ``outcome`` ("stored", "released", "expired" or NULL while
    it runs). The number of fits of a cell is its number of attempts.

Three modules: `schema` (the tables, versions, migrations, and the one path that opens or
checks a file), `results` (`Store`: the rows) and `leases` (`LeaseBook`, `Owner`: the
runners, leases and attempts).

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
`hierlearn.experiments.run.runner.run_spec` (default `DEFAULT_LEASE_SECONDS`, 60 s; on the
command line ``--lease-seconds`` or ``HIERLEARN_LEASE_SECONDS``).

Schema versions and migrations. ``meta.schema_version`` is the version of the file's schema
(`SCHEMA_VERSION` is the one this code writes). Opening a store of an older version
copies the file aside first (``STORE.vOLD.bak``, a consistent SQLite copy) and then migrates it
in place, all inside one write transaction: a concurrent opener waits and finds it done. A
store of a newer version is refused
([`StoreError`][hierlearn.experiments.run.store.StoreError] naming both versions, the release
that wrote it and how to export its rows); nothing is written to it. Migrations only ever add
tables, columns or meta entries: stored rows read back unchanged.
"""

from .leases import (
    DEFAULT_LEASE_SECONDS,
    Claim,
    LeaseBook,
    Owner,
    lease_dead,
    process_alive,
)
from .results import Store, export
from .schema import (
    BUSY_TIMEOUT,
    COLUMNS,
    JSON_COLUMNS,
    MIGRATIONS,
    RETRY_STATUSES,
    SCHEMA_VERSION,
    STEERING_ERROR,
    StoreError,
    check_store,
    steering_error,
)

__all__ = [
    "BUSY_TIMEOUT",
    "COLUMNS",
    "DEFAULT_LEASE_SECONDS",
    "JSON_COLUMNS",
    "MIGRATIONS",
    "RETRY_STATUSES",
    "SCHEMA_VERSION",
    "STEERING_ERROR",
    "Claim",
    "LeaseBook",
    "Owner",
    "Store",
    "StoreError",
    "check_store",
    "export",
    "lease_dead",
    "process_alive",
    "steering_error",
]
