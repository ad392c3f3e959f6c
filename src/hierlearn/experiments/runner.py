"""The driver: run a spec's cells on an executor and commit each finished row to the store.

Resume semantics: a cell whose key is already stored is not run again (its stored result is
fed to the plan, so an adaptive search replays its path), except that with
``retry_failed=True`` cells stored as "failed" or "timeout" are run once more and their rows
replaced. "ok" and "diverged" rows are final.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from .adaptive import AdaptivePlan, GridPlan
from .cells import cell_key, grid_cells
from .progress import Progress
from .spec import AdaptiveSamples, Spec
from .store import RETRY_STATUSES, Store


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
    """What a call of :func:`run_spec` did."""

    ran: int = 0  # cells run in this call
    skipped: int = 0  # cells found in the store and not run
    statuses: Counter = field(default_factory=Counter)  # status -> count, cells run in this call
    seconds: float = 0.0  # wall time of the call
    plan: dict = field(default_factory=dict)  # GridPlan / AdaptivePlan summary

    @property
    def cells_per_minute(self) -> float:
        return 60.0 * self.ran / self.seconds if self.seconds > 0 else 0.0


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
) -> RunSummary:
    """Run every cell of ``spec`` not yet in ``store`` on ``executor``.

    Each row is committed by this (the driver) process as soon as it arrives, with the git
    revision added. ``executor`` is left open (the caller closes it).
    """
    start = time.monotonic()
    plan = make_plan(spec)
    store.add_spec(spec.name, spec_text if spec_text is not None else spec.model_dump_json())
    revision = git_revision()
    stored = store.results()
    summary = RunSummary()
    queue: deque = deque()
    in_flight: dict[str, dict] = {}
    attempted: set[str] = set()
    progress = progress or Progress(enabled=False)

    def show(force: bool = False) -> None:
        progress.update(
            done=summary.ran,
            failed=summary.statuses["failed"] + summary.statuses["timeout"],
            running=min(len(in_flight), executor.capacity),
            skipped=summary.skipped,
            total=plan.total,
            force=force,
        )

    while True:
        ready = plan.ready()
        for config in ready:
            key = cell_key(config)
            if key in in_flight or key in attempted:
                continue
            previous = stored.get(key)
            if previous is not None and not (retry_failed and previous[0] in RETRY_STATUSES):
                summary.skipped += 1
                plan.observe(config, *previous)
                continue
            attempted.add(key)
            queue.append((key, config))
        if not queue and not in_flight:
            if plan.finished():
                break
            if not ready:
                raise RuntimeError("the plan is waiting for cells that were never run")
            continue  # skipped cells may have made new ones ready
        while queue and len(in_flight) < executor.max_in_flight:
            key, config = queue.popleft()
            executor.submit(config)
            in_flight[key] = config
        for row in executor.poll(poll_interval):
            config = in_flight.pop(row["key"], None)
            if config is None:  # not a cell of this run (cannot happen with our executors)
                continue
            row["git_revision"] = revision
            store.put(row)
            stored[row["key"]] = (row["status"], row["relative_test_error"])
            summary.ran += 1
            summary.statuses[row["status"]] += 1
            plan.observe(config, row["status"], row["relative_test_error"])
        show()
    summary.seconds = time.monotonic() - start
    summary.plan = plan.summary()
    show(force=True)
    return summary
