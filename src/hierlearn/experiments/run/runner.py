"""The driver: run a spec's cells on an executor and commit each finished row to the store.

Resume semantics: a cell whose key is already stored is not run again (its stored result is
fed to the plan, so an adaptive search replays its path), except that with
``retry_failed=True`` cells stored as "failed" or "timeout" are run once more and their rows
replaced. "ok" and "diverged" rows are final. Runners that share a store and overlap in time
retry each such cell once between them: a cell stored again since the earliest live runner
started counts as retried (see
[`LeaseBook.register`][hierlearn.experiments.run.store.LeaseBook.register]).

Several runners on one store. The driver leases each cell before handing it to its executor
(see [`store`][hierlearn.experiments.run.store] for the lease protocol): runners started on the same
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

from ..spec import AdaptiveSamples, Spec
from .adaptive import AdaptivePlan, GridPlan, Plan
from .cells import cell_key, grid_cells
from .executors import Executor, cpu_count
from .progress import Progress
from .store import (
    DEFAULT_LEASE_SECONDS,
    RETRY_STATUSES,
    Owner,
    Store,
    StoreError,
    lease_dead,
    steering_error,
)

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


def make_plan(spec: Spec) -> Plan:
    """The plan of a spec: every grid cell, or one adaptive search per (learner, d)."""
    if isinstance(spec.samples, AdaptiveSamples):
        return AdaptivePlan(spec)
    return GridPlan(grid_cells(spec))


def run_spec(
    spec: Spec,
    store: Store,
    executor: Executor,
    spec_text: str | None = None,
    retry_failed: bool = False,
    progress: Progress | None = None,
    poll_interval: float = 0.2,
    *,
    lease_seconds: float | None = None,
    plan: Plan | None = None,
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
    owner = Owner.this_process()
    summary = RunSummary(owner=owner.id, slots=max(1, executor.capacity))
    with stop_signals():
        with deferred_stop():
            store.add_spec(
                spec.name, spec_text if spec_text is not None else spec.model_dump_json()
            )
            since = store.book.register(owner, executor.local_slots, lease_seconds)
        heartbeat = _Heartbeat(store.path, owner, lease_seconds)
        heartbeat.start()
        try:
            Sweep(
                plan,
                store,
                executor,
                owner,
                summary,
                progress=progress or Progress(enabled=False),
                poll_interval=poll_interval,
                lease_seconds=lease_seconds,
                retry_failed=retry_failed,
                since_attempt=since,
            ).run()
        finally:
            heartbeat.stop()
            with deferred_stop(), contextlib.suppress(sqlite3.Error):
                store.book.unregister(owner)
    summary.seconds = time.monotonic() - start
    summary.plan = plan.summary()
    return summary


class Sweep:
    """One runner's pass over a plan: cells go from the plan's ready list to the candidates
    (to claim, in order), then to this runner's executor (``in_flight``) or, when another
    runner holds them, to ``waiting``; every result, run here or found in the store, goes
    back to the plan. Each round of `run` takes four steps: `admit` the newly ready cells,
    `revisit` the waiting ones, `claim` candidates up to the executor's room, `collect`
    finished rows."""

    def __init__(
        self,
        plan: Plan,
        store: Store,
        executor: Executor,
        owner: Owner,
        summary: RunSummary,
        *,
        progress: Progress,
        poll_interval: float,
        lease_seconds: float,
        retry_failed: bool,
        since_attempt: int,
    ):
        self.plan, self.store, self.executor, self.owner = plan, store, executor, owner
        self.summary, self.progress, self.poll_interval = summary, progress, poll_interval
        self.lease_seconds, self.since_attempt = lease_seconds, since_attempt
        self.revision = git_revision()
        self.stored = store.results()  # key -> (status, steering error)
        self.retry = (
            {k for k, (status, _) in self.stored.items() if status in RETRY_STATUSES}
            if retry_failed
            else set()
        )
        self.candidates: dict[str, dict] = {}  # to claim, in order
        self.waiting: dict[str, dict] = {}  # leased by other runners
        self.in_flight: dict[str, dict] = {}  # submitted to the executor
        self.seen: set[str] = set()
        self.changed = False  # a found result may have made new cells ready
        self.check_interval = min(1.0, lease_seconds / 4)
        self.next_check = self.next_share = 0.0
        self.share = executor.local_slots > 0

    def run(self) -> None:
        """Until the plan is finished: admit, share the cores, revisit, claim, then collect
        (or wait for other runners' cells)."""
        while True:
            ready = self.plan.ready()
            self.changed = False
            self.admit(ready)
            self.share_cores()
            self.revisit()
            self.claim()
            if not self.candidates and not self.in_flight:
                if not self.waiting:
                    if self.plan.finished():
                        break
                    if not ready and not self.changed:
                        raise RuntimeError("the plan is waiting for cells that were never run")
                    continue  # found cells may have made new ones ready
                self.show()
                if not self.changed:  # wait for the other runners' cells
                    pause = min(self.poll_interval, self.next_check - time.monotonic())
                    time.sleep(max(0.0, pause))
                continue
            self.collect()
            self.show()
        self.show(force=True)

    def admit(self, ready: list[dict]) -> None:
        """Ready cells become candidates, except those already stored (fed to the plan)."""
        for config in ready:
            key = cell_key(config)
            if key in self.seen:
                continue
            self.seen.add(key)
            previous = self.stored.get(key)
            if previous is not None and key not in self.retry:
                self.found(key, config, previous, elsewhere=False)
            else:
                self.candidates[key] = config

    def share_cores(self) -> None:
        """Every 2 s: the cells all runners of this host run at once set each cell's threads."""
        now = time.monotonic()
        if self.share and now >= self.next_share:
            self.next_share = now + 2.0
            slots = max(1, self.store.book.local_slots(self.owner.host))
            self.executor.share_cores(slots, cpu_count())

    def revisit(self) -> None:
        """Cells leased by others: a stored result is taken; a cell whose lease ended or died
        goes back to the candidates (the claim transaction decides)."""
        now = time.monotonic()
        if not self.waiting or now < self.next_check:
            return
        self.next_check = now + self.check_interval
        done, leases = self.store.book.lease_states(self.waiting)
        wall = time.time()
        for key in list(self.waiting):
            if key in done and key not in self.retry:
                self.found(key, self.waiting.pop(key), done[key], elsewhere=True)
            elif key not in leases or lease_dead(leases[key], wall):
                self.candidates[key] = self.waiting.pop(key)

    def claim(self) -> None:
        """Lease candidates up to the executor's room and submit them; stored ones are taken,
        those another runner holds wait."""
        room = self.executor.max_in_flight - len(self.in_flight)
        if room <= 0 or not self.candidates:
            return
        with deferred_stop():
            claim = self.store.book.claim(
                self.owner,
                list(self.candidates.items()),
                room,
                self.lease_seconds,
                self.retry,
                self.since_attempt,
            )
        for key, result in claim.done.items():
            self.found(key, self.candidates.pop(key), result, elsewhere=True)
        for key in claim.busy:
            self.waiting[key] = self.candidates.pop(key)
        for key in claim.claimed:
            config = self.candidates.pop(key)
            self.executor.submit(config)
            self.in_flight[key] = config

    def collect(self) -> None:
        """Store the rows the executor finished (each in its own transaction) and feed them
        to the plan."""
        for row in self.executor.poll(self.poll_interval) if self.in_flight else []:
            config = self.in_flight.pop(row["key"], None)
            if config is None:  # not a cell of this run (cannot happen with our executors)
                continue
            row["git_revision"] = self.revision
            with deferred_stop():
                self.store.put(row, self.owner)
            steering = steering_error(row)
            self.stored[row["key"]] = (row["status"], steering)
            self.summary.ran += 1
            self.summary.busy_seconds += float(row.get("seconds") or 0.0)
            self.summary.statuses[row["status"]] += 1
            self.plan.observe(config, row["status"], steering)

    def found(self, key: str, config: dict, result: tuple, elsewhere: bool) -> None:
        """A result this runner did not compute (stored before, or by another runner)."""
        self.changed = True
        self.stored[key] = result
        self.summary.skipped += 1
        self.summary.elsewhere += elsewhere
        self.plan.observe(config, *result)

    def show(self, force: bool = False) -> None:
        summary = self.summary
        self.progress.update(
            done=summary.ran,
            failed=summary.statuses["failed"] + summary.statuses["timeout"],
            running=min(len(self.in_flight), self.executor.capacity),
            skipped=summary.skipped,
            total=self.plan.total,
            bound=self.plan.max_cells(),
            force=force,
            elsewhere=len(self.waiting),
        )
