"""The harness's three jobs as library functions: run a spec into a store, write a report,
reproduce a preset ([`reproduce`][hierlearn.experiments.reproduce]).

Every argument is a plain value; the command line (`hierlearn.cli`) is a thin shell that
parses options into them. Everything that can be checked is checked before a store or an
output directory is created or modified: a bad value raises
[`InputError`][hierlearn.experiments.workflow.InputError], whose message starts with the
argument it concerns in this module's words (``workers: must be >= 0, got -1``); the command
line names the flag instead (``--workers: ...``, see ``InputError.argument``) and exits with
code 2.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .defaults import N_BOOTSTRAP


class InputError(ValueError):
    """A bad input (argument, path or spec); nothing was written.

    ``str(error)`` is ``"argument: problem"`` (``"a and b: problem"`` for several).

    Attributes:
        argument: the name of the argument concerned, as the functions of this module spell
            it (``"store_path"``, ``"workers"``, ``"n_bootstrap"``...), a tuple of names, or
            None (a spec file or a report's content).
        problem: the message without the argument.
    """

    def __init__(self, argument: str | tuple[str, ...] | None, problem: str):
        self.argument, self.problem = argument, problem
        names = self.arguments
        super().__init__(f"{' and '.join(names)}: {problem}" if names else problem)

    @property
    def arguments(self) -> tuple[str, ...]:
        """``argument`` as a tuple (empty for None)."""
        if self.argument is None:
            return ()
        return (self.argument,) if isinstance(self.argument, str) else tuple(self.argument)


# Where cells may compute (a spec's ``device``, the ``device`` argument of the functions here).
DEVICES = ("cpu", "cuda")


def check_device(device, argument: str = "device", *, here: bool = True) -> None:
    """InputError unless ``device`` is "cpu", or "cuda" where torch sees a CUDA device (only
    the value is checked when ``here`` is false: cells that run on a remote Dask scheduler's
    workers); the error names ``argument``."""
    accepted = ", ".join(DEVICES)
    if device not in DEVICES:
        raise InputError(argument, f"{device!r} is not a device; accepted values: {accepted}")
    if device == "cuda" and here:
        import torch

        if not torch.cuda.is_available():
            raise InputError(
                argument,
                f"cuda was asked for but torch sees no CUDA device; accepted values: {accepted}",
            )


def default_workers(device: str, cpu_workers: int = 1) -> int:
    """Local worker processes when none are asked for: one per visible GPU
    (``torch.cuda.device_count()``) on "cuda", else ``cpu_workers``."""
    if device == "cuda":
        import torch

        return max(1, torch.cuda.device_count())
    return cpu_workers


def with_device(spec, spec_text: str | None, device: str):
    """(spec, text) with the spec's ``device`` set to ``device``, in its YAML text too: the
    store keeps the text, and a report selects the rows that its latest text defines (the
    device is part of every cell's config and key). Unchanged when the spec says ``device``."""
    import yaml

    from .spec import parse_spec

    if spec.device == device:
        return spec, spec_text
    if spec_text is None:  # the store keeps the spec's JSON dump, which then has the device
        return spec.model_copy(update={"device": device}), None
    data = yaml.safe_load(spec_text)
    data["device"] = device
    return parse_spec(data), yaml.safe_dump(data, sort_keys=False)


@dataclass(frozen=True)
class ExecutorOptions:
    """Where cells run: a local pool of ``workers`` processes (0: in this process), a running
    Dask ``scheduler`` (an address such as ``tcp://host:8786``), or a Dask ``LocalCluster`` of
    ``cluster`` worker processes started for the run; ``threads`` torch threads per cell
    (default: cores / workers, see `executors`). ``workers=None`` asks for the default of
    the device the cells compute on, one per visible GPU on "cuda"
    ([`default_workers`][hierlearn.experiments.workflow.default_workers])."""

    workers: int | None = 1
    scheduler: str | None = None
    cluster: int | None = None
    threads: int | None = None

    def check(self) -> None:
        """InputError unless the options make sense together."""
        chosen = [name for name in ("scheduler", "cluster") if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise InputError(("scheduler", "cluster"), "choose one")
        if self.workers is not None and self.workers < 0:
            raise InputError("workers", f"must be >= 0, got {self.workers}")
        if self.cluster is not None and self.cluster < 1:
            raise InputError("cluster", f"must be >= 1 worker processes, got {self.cluster}")
        if self.threads is not None and self.threads < 1:
            raise InputError("threads", f"must be >= 1, got {self.threads}")

    def for_device(self, device: str, cpu_workers: int = 1) -> ExecutorOptions:
        """These options with ``workers=None`` replaced by the default of ``device``
        ([`default_workers`][hierlearn.experiments.workflow.default_workers])."""
        if self.workers is not None:
            return self
        return replace(self, workers=default_workers(device, cpu_workers))

    def make(self):
        """The executor (close it when done)."""
        from .run.executors import make_executor

        self.check()
        workers = 1 if self.workers is None else self.workers
        try:
            return make_executor(workers, self.scheduler, self.cluster, self.threads)
        except OSError as error:  # an unreachable scheduler
            raise InputError("scheduler", f"cannot connect to {self.scheduler}: {error}") from None


def parse_cluster(text: str | None) -> int | None:
    """The worker count of ``local:N`` (None passes through)."""
    if text is None:
        return None
    match = re.fullmatch(r"local:([1-9][0-9]*)", text)
    if not match:
        raise InputError("cluster", f"expected local:N with N >= 1, got {text!r}")
    return int(match.group(1))


def check_positive(argument: str, value, strict: bool = True) -> None:
    """InputError naming ``argument`` unless ``value`` is None or > 0 (>= 1 for integers when
    ``strict``)."""
    if value is None:
        return
    if isinstance(value, int) and value < 1:
        raise InputError(argument, f"must be >= 1, got {value}")
    if not value > 0:
        raise InputError(argument, f"must be > 0, got {value}")


def check_out_dir(path, argument: str = "out_dir") -> Path:
    """An output directory whose parent exists and that is not a file."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(argument, f"directory {path.parent} does not exist")
    if path.exists() and not path.is_dir():
        raise InputError(argument, f"{path} exists and is not a directory")
    return path


def check_store_path(path) -> Path:
    """A store path whose directory exists; an existing file must be a hierlearn store."""
    from .run.store import StoreError, check_store

    path = Path(path)
    if not path.parent.is_dir():
        raise InputError("store_path", f"directory {path.parent} does not exist")
    try:
        check_store(path)
    except StoreError as error:
        raise InputError("store_path", str(error)) from None
    return path


def open_store(path):
    """An existing store (InputError when it is missing or not a store)."""
    from .run.store import Store, StoreError

    try:
        return Store(path)
    except StoreError as error:
        raise InputError("store_path", str(error)) from None


def load_spec_checked(path):
    """(spec, text) of a YAML spec; InputError with one ``field: problem`` line per error."""
    from .spec import SpecError, load_spec

    try:
        return load_spec(path)
    except SpecError as error:
        raise InputError(None, f"invalid spec {path}:\n{error}") from None


def run_into_store(
    spec,
    spec_text: str,
    store_path,
    executor: ExecutorOptions | None = None,
    *,
    time_limit: float | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    lease_seconds: float | None = None,
    out=None,
    device: str | None = None,
):
    """Run ``spec`` into the store at ``store_path``; returns the `runner.RunSummary`.

    Checks everything that can be checked before the store is created or touched (the store
    path, the executor options, the resolution of every cell); ``time_limit`` (seconds per
    cell) overrides the spec's; ``lease_seconds`` is how long a cell stays claimed by this
    runner without a heartbeat before another runner may take it over (default
    60 s, see `runner`); a summary line is written to
    ``out`` (default stdout).

    ``device`` ("cpu" or "cuda"; None: the spec's own) overrides the spec's ``device``, in the
    spec text kept in the store too. The device is part of every cell's config and key, so
    cells computed on one device are never reused on the other. "cuda" is refused
    ([`InputError`][hierlearn.experiments.workflow.InputError], "device: ...") where torch
    sees no CUDA device, unless the cells run on a Dask ``scheduler``'s workers; with
    ``executor.workers`` None the pool has one worker per visible GPU on "cuda", else 1.
    """
    from .run.progress import Progress
    from .run.runner import make_plan, run_spec
    from .run.store import Store

    out = out or sys.stdout
    executor = executor or ExecutorOptions()
    store_path = check_store_path(store_path)
    executor.check()
    check_positive("time_limit", time_limit)
    check_positive("lease_seconds", lease_seconds)
    local = executor.scheduler is None  # else the scheduler's workers compute
    if device is not None:
        check_device(device, here=local)
        spec, spec_text = with_device(spec, spec_text, device)
    check_device(spec.device, here=local)
    executor = executor.for_device(spec.device)
    if time_limit is not None:
        spec = spec.model_copy(update={"time_limit": float(time_limit)})
    plan = make_plan(spec)  # resolves every cell config (estimator defaults included) first
    started = time.monotonic()
    pool = executor.make()
    try:
        with Store(store_path, create=True) as store:
            display = Progress(enabled=progress)
            summary = run_spec(
                spec,
                store,
                pool,
                spec_text,
                retry_failed,
                display,
                lease_seconds=lease_seconds,
                plan=plan,
            )
            display.close()
    finally:
        pool.close()
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(summary.statuses.items()))
    print(
        f"{spec.name}: ran {summary.ran} cells ({statuses or 'none'}) in {summary.seconds:.1f} s"
        f" ({summary.cells_per_minute:.1f} cells/min); {summary.skipped} already stored"
        + (f" ({summary.elsewhere} by other runners meanwhile)" if summary.elsewhere else ""),
        file=out,
    )
    if summary.ran:
        wall = time.monotonic() - started
        print(
            f"  {summary.slots} cell slot(s) busy {100 * summary.utilisation(wall):.0f}% of the "
            f"{wall:.1f} s since the executor started (the rest: start-up, scheduling, waits)",
            file=out,
        )
    if summary.plan.get("mode") == "adaptive":
        print(
            f"adaptive n* search: {summary.plan['cells']} cells; a geometric grid of the same "
            f"resolution over the brackets: {summary.plan['grid_cells']} cells",
            file=out,
        )
    return summary


def report_into(
    store_path,
    out_dir,
    *,
    eps_levels=None,
    comparisons=None,
    n_bootstrap: int = N_BOOTSTRAP,
    spec_name: str | None = None,
    seed: int = 0,
) -> dict:
    """Write the report of the store at ``store_path`` into ``out_dir``; returns exponents.

    ``eps_levels`` (thresholds of n*, the smallest the headline one) and ``comparisons``
    (pairs of learner names) default to the spec's.
    """
    from .report import ReportError, write_report

    check_positive("n_bootstrap", n_bootstrap)
    eps = None
    if eps_levels:
        bad = [value for value in eps_levels if not value > 0]
        if bad:
            raise InputError("eps_levels", f"every threshold must be > 0, got {bad[0]}")
        eps, eps_levels = min(eps_levels), sorted(set(eps_levels), reverse=True)
    out_dir = check_out_dir(out_dir)
    with open_store(store_path) as store:
        try:
            return write_report(
                store,
                out_dir,
                eps,
                n_bootstrap,
                spec_name,
                seed,
                eps_levels=eps_levels,
                comparisons=comparisons,
            )
        except ReportError as error:
            raise InputError(None, str(error)) from None
