"""The driver: run a spec's cells on an executor and commit each finished row to the store.

Resume semantics: a cell whose key is already stored is not run again (its stored result is
fed to the plan, so an adaptive search replays its path), except that with
``retry_failed=True`` cells stored as "failed" or "timeout" are run once more and their rows
replaced. "ok" and "diverged" rows are final. Runners that share a store and overlap in time
retry each such cell once between them: a cell stored again since the earliest live runner
started counts as retried (see
[`LeaseBook.register`][hierlearn.experiments.store.LeaseBook.register]).

Several runners on one store. The driver leases each cell before handing it to its executor
(see [`store`][hierlearn.experiments.store] for the lease protocol): runners started on the same
store, on one host or
several, split the cells; a cell leased by another runner is skipped and revisited - when it
is stored its result is fed to this runner's plan (an adaptive search then proceeds exactly as
if this runner had run it; no runner deadlocks waiting, since leases end by a stored result, a
release or an expiry), and when its lease expired the cell is taken over. A thread of the
driver heartbeats the leases every quarter of ``lease_seconds``.

Threads. Runners on one host divide its cores: every few seconds the driver reads the live
runners of its host from the store and gives each cell ``cores // (cells running at once on
this host, over all its runners)`` torch threads (at least 1), unless ``--threads`` fixed it.

Stopping. SIGINT and SIGTERM raise `Stopped` (a ``KeyboardInterrupt``) in the driver
while `run_spec` runs (signals arriving during a store write wait for its commit); the
finished cells stay stored and the runner's leases are released before it returns.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .adaptive import AdaptivePlan, GridPlan
from .cells import cell_key, grid_cells
from .executors import cpu_count
from .progress import Progress
from .spec import AdaptiveSamples, Spec
from .store import DEFAULT_LEASE_SECONDS, RETRY_STATUSES, Owner, Store, StoreError, lease_dead

_log = logging.getLogger(__name__)


# ---------------------------------------------------------------- stop signals


class Stopped(KeyboardInterrupt):
    """A sweep stopped by a signal (``signum``: SIGINT or SIGTERM)."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


_signals = {"critical": 0, "pending": None}


def _on_signal(signum, frame):
    if _signals["critical"]:
        _signals["pending"] = signum  # raised when the store write in progress has committed
        return
    raise Stopped(signum)


@contextlib.contextmanager
def stop_signals():
    """While inside, SIGINT and SIGTERM raise `Stopped` in the main thread (a signal
    that the process ignores stays ignored). Does nothing outside the main thread or when
    already installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(number)
        if handler not in (signal.SIG_IGN, _on_signal):
            previous[number] = handler
            signal.signal(number, _on_signal)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def deferred_stop():
    """Hold `stop_signals`' signals until the block ends (then raise `Stopped`)."""
    _signals["critical"] += 1
    try:
        yield
    finally:
        _signals["critical"] -= 1
        if not _signals["critical"] and _signals["pending"] is not None:
            signum, _signals["pending"] = _signals["pending"], None
            raise Stopped(signum)


class _Heartbeat(threading.Thread):
    """Extends ``owner``'s leases every ``period`` seconds on its own connection."""

    def __init__(self, path, owner: Owner, lease_seconds: float):
        super().__init__(name="hierlearn-heartbeat", daemon=True)
        self.path, self.owner, self.lease_seconds = path, owner, lease_seconds
        self.period = lease_seconds / 4
        self._stop_event = threading.Event()

    def run(self) -> None:
        store = None
        while not self._stop_event.wait(self.period):
            try:
                if store is None:
                    store = Store(self.path)
                store.book.heartbeat(self.owner, self.lease_seconds)
            except (sqlite3.Error, StoreError) as error:  # try again at the next beat
                _log.warning("hierlearn: lease heartbeat failed: %s", error)
        if store is not None:
            store.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def git_revision() -> str:
    """The git commit of the hierlearn checkout ("+dirty" if tracked files changed), else
    "unknown" (an installed package outside a git checkout)."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        # --no-optional-locks: never take the index lock (read-only, safe next to other users).
        changes = subprocess.run(
            [
                "git",
                "--no-optional-locks",
                "-C",
                str(here),
                "status",
                "--porcelain",
                "--untracked-files=no",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if changes else "")


@dataclass
class RunSummary:
    """What a call of `run_spec` did."""

    ran: int = 0  # cells run in this call
    skipped: int = 0  # cells found in the store and not run (elsewhere included)
    elsewhere: int = 0  # of them, cells that other runners stored during this call
    statuses: Counter = field(default_factory=Counter)  # status -> count, cells run in this call
    seconds: float = 0.0  # wall time of the call
    plan: dict = field(default_factory=dict)  # GridPlan / AdaptivePlan summary
    owner: str = ""  # this runner's id in the store's leases
    busy_seconds: float = 0.0  # the run times of the cells run in this call, summed
    slots: int = 1  # cells the executor runs at once

    @property
    def cells_per_minute(self) -> float:
        return 60.0 * self.ran / self.seconds if self.seconds > 0 else 0.0

    def utilisation(self, wall: float | None = None) -> float:
        """The fraction of the slots' time spent in cells: busy / (slots x ``wall``), with
        ``wall`` this call's wall time by default (pass a longer one to count, e.g., the
        pool's start-up). 1 means no slot ever waited for the driver, the pool or the plan."""
        wall = self.seconds if wall is None else wall
        return self.busy_seconds / (self.slots * wall) if wall > 0 else 0.0


def make_plan(spec: Spec):
    """The plan of a spec: every grid cell, or one adaptive search per (learner, d)."""
    if isinstance(spec.samples, AdaptiveSamples):
        return AdaptivePlan(spec)
    return GridPlan(grid_cells(spec))


def run_spec(
    spec: Spec,
    store: Store,
    executor,
    spec_text: str | None = None,
    retry_failed: bool = False,
    progress: Progress | None = None,
    poll_interval: float = 0.2,
    *,
    lease_seconds: float | None = None,
    plan=None,
) -> RunSummary:
    """Run every cell of ``spec`` not yet in ``store`` on ``executor``.

    Each row is committed by this (the driver) process as soon as it arrives, with the git
    revision added. Other runners may work on the same store at the same time: cells are
    leased (``lease_seconds``, default `DEFAULT_LEASE_SECONDS`, 60; see the module
    docstring). ``executor`` is left open (the caller closes it). ``plan``: the spec's
    `make_plan` when the caller already made it (to check the spec before writing).
    """
    start = time.monotonic()
    lease_seconds = lease_seconds or DEFAULT_LEASE_SECONDS
    plan = make_plan(spec) if plan is None else plan
    revision = git_revision()
    summary = RunSummary()
    progress = progress or Progress(enabled=False)
    owner = Owner.this_process()
    summary.owner = owner.id
    summary.slots = max(1, getattr(executor, "capacity", 1))
    with stop_signals():
        with deferred_stop():
            store.add_spec(
                spec.name, spec_text if spec_text is not None else spec.model_dump_json()
            )
            since = store.book.register(owner, getattr(executor, "local_slots", 0), lease_seconds)
        heartbeat = _Heartbeat(store.path, owner, lease_seconds)
        heartbeat.start()
        try:
            _sweep(
                plan,
                store,
                executor,
                owner,
                summary,
                progress,
                poll_interval,
                lease_seconds,
                revision,
                retry_failed,
                since,
            )
        finally:
            heartbeat.stop()
            with deferred_stop(), contextlib.suppress(sqlite3.Error):
                store.book.unregister(owner)
    summary.seconds = time.monotonic() - start
    summary.plan = plan.summary()
    return summary


def _sweep(
    plan,
    store,
    executor,
    owner,
    summary,
    progress,
    poll_interval,
    lease_seconds,
    revision,
    retry_failed,
    since,
) -> None:
    stored = store.results()
    retry = {k for k, (status, _) in stored.items() if status in RETRY_STATUSES}
    retry = retry if retry_failed else set()
    candidates: dict[str, dict] = {}  # to claim, in order
    waiting: dict[str, dict] = {}  # leased by other runners
    in_flight: dict[str, dict] = {}
    seen: set[str] = set()
    check_interval = min(1.0, lease_seconds / 4)
    next_check = next_share = 0.0
    share = hasattr(executor, "share_cores") and getattr(executor, "local_slots", 0) > 0

    def show(force: bool = False) -> None:
        progress.update(
            done=summary.ran,
            failed=summary.statuses["failed"] + summary.statuses["timeout"],
            running=min(len(in_flight), executor.capacity),
            skipped=summary.skipped,
            total=plan.total,
            bound=plan.max_cells() if hasattr(plan, "max_cells") else None,
            force=force,
            elsewhere=len(waiting),
        )

    changed = False  # a found result may have made new cells ready

    def found(key: str, config: dict, result: tuple, elsewhere: bool) -> None:
        nonlocal changed
        changed = True
        stored[key] = result
        summary.skipped += 1
        summary.elsewhere += elsewhere
        plan.observe(config, *result)

    while True:
        ready = plan.ready()
        changed = False
        for config in ready:
            key = cell_key(config)
            if key in seen:
                continue
            seen.add(key)
            previous = stored.get(key)
            if previous is not None and key not in retry:
                found(key, config, previous, False)
                continue
            candidates[key] = config
        now = time.monotonic()
        if share and now >= next_share:
            next_share = now + 2.0
            executor.share_cores(max(1, store.book.local_slots(owner.host)), cpu_count())
        if waiting and now >= next_check:
            # Revisit cells leased by others: a stored result is taken; a cell whose lease
            # ended or died goes back to the candidates (the claim transaction decides).
            next_check = now + check_interval
            done, leases = store.book.lease_states(waiting)
            wall = time.time()
            for key in list(waiting):
                if key in done and key not in retry:
                    found(key, waiting.pop(key), done[key], True)
                elif key not in leases or lease_dead(leases[key], wall):
                    candidates[key] = waiting.pop(key)
        room = executor.max_in_flight - len(in_flight)
        if room > 0 and candidates:
            with deferred_stop():
                claim = store.book.claim(
                    owner, list(candidates.items()), room, lease_seconds, retry, since
                )
            for key, result in claim.done.items():
                found(key, candidates.pop(key), result, True)
            for key in claim.busy:
                waiting[key] = candidates.pop(key)
            for key in claim.claimed:
                config = candidates.pop(key)
                executor.submit(config)
                in_flight[key] = config
        if not candidates and not in_flight:
            if not waiting:
                if plan.finished():
                    break
                if not ready and not changed:
                    raise RuntimeError("the plan is waiting for cells that were never run")
                continue  # found cells may have made new ones ready
            show()
            if changed:
                continue
            time.sleep(max(0.0, min(poll_interval, next_check - time.monotonic())))
            continue
        for row in executor.poll(poll_interval) if in_flight else []:
            config = in_flight.pop(row["key"], None)
            if config is None:  # not a cell of this run (cannot happen with our executors)
                continue
            row["git_revision"] = revision
            with deferred_stop():
                store.put(row, owner)
            steering = (row.get("details") or {}).get("relative_design_error")
            stored[row["key"]] = (row["status"], steering)
            summary.ran += 1
            summary.busy_seconds += float(row.get("seconds") or 0.0)
            summary.statuses[row["status"]] += 1
            plan.observe(config, row["status"], steering)
        show()
    show(force=True)
