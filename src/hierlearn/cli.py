"""The ``hierlearn`` command line.

    hierlearn run SPEC.yaml --store PATH [--workers N | --scheduler ADDRESS | --cluster local:N]
                  [--threads T] [--time-limit S] [--retry-failed] [--quiet]
    hierlearn status --store PATH [--spec NAME] [--failed]
    hierlearn report --store PATH --out DIR [--eps E ...] [--compare A B] [--bootstrap B]
                     [--spec NAME]
    hierlearn export --store PATH --format csv|parquet [--output FILE]
    hierlearn reproduce [--quick | --standard | --full] [--store PATH] [--out DIR]
                        [executor options]

Exit codes: 0 success; 2 bad input (an invalid spec, with one ``field.path: problem`` line per
error; a missing file or directory; bad options), in which case the store is neither created
nor modified; 1 failure (an error while running, or cells of this run stored as "failed").

The pieces are reusable by further subcommands: :func:`add_executor_arguments` and
:func:`executor_from_args` for the executor options, :func:`run_into_store` to run a spec into a
store with a progress bar, :func:`report_into` to write a report directory.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from pathlib import Path

from . import __version__


class BadInput(ValueError):
    """An input problem reported with exit code 2 (nothing was written)."""


# ---------------------------------------------------------------- shared pieces


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers`` / ``--scheduler`` / ``--cluster``, ``--threads``, ``--time-limit``."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="local worker processes (default 1; 0 runs cells in this process)",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler, e.g. tcp://host:8786",
    )
    where.add_argument(
        "--cluster", metavar="local:N", help="start a Dask LocalCluster with N worker processes"
    )
    parser.add_argument(
        "--threads", type=int, metavar="T", help="torch threads per cell (default: cores / workers)"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        metavar="S",
        help="seconds per cell (overrides the spec's time_limit)",
    )


def check_executor_args(args) -> int | None:
    """Check the executor options (BadInput if invalid); returns the LocalCluster size."""
    cluster_workers = None
    if args.cluster is not None:
        match = re.fullmatch(r"local:([1-9][0-9]*)", args.cluster)
        if not match:
            raise BadInput(f"--cluster: expected local:N with N >= 1, got {args.cluster!r}")
        cluster_workers = int(match.group(1))
    if args.workers is not None and args.workers < 0:
        raise BadInput(f"--workers: must be >= 0, got {args.workers}")
    if args.threads is not None and args.threads < 1:
        raise BadInput(f"--threads: must be >= 1, got {args.threads}")
    return cluster_workers


def executor_from_args(args):
    """The executor chosen by :func:`add_executor_arguments`'s options (BadInput if invalid)."""
    from .experiments.executors import make_executor

    cluster_workers = check_executor_args(args)
    try:
        return make_executor(args.workers, args.scheduler, cluster_workers, args.threads)
    except OSError as error:  # an unreachable scheduler
        raise BadInput(f"--scheduler: cannot connect to {args.scheduler}: {error}") from None


def check_new_store_path(path) -> Path:
    """A store path whose directory exists; an existing file must be a hierlearn store."""
    from .experiments.store import StoreError, check_store

    path = Path(path)
    if not path.parent.is_dir():
        raise BadInput(f"--store: directory {path.parent} does not exist")
    try:
        check_store(path)
    except StoreError as error:
        raise BadInput(f"--store: {error}") from None
    return path


def load_spec_or_fail(path):
    """(spec, text) of a YAML spec; BadInput with one line per problem otherwise."""
    from .experiments.spec import SpecError, load_spec

    try:
        return load_spec(path)
    except SpecError as error:
        raise BadInput(f"invalid spec {path}:\n{error}") from None


def run_into_store(spec, spec_text: str, store_path, args, out=None):
    """Run ``spec`` into the store at ``store_path`` on the executor of ``args``.

    Checks everything that can be checked before the store is created or touched (the store
    path, the executor options, the resolution of every cell); returns the RunSummary.
    """
    from .experiments.progress import Progress
    from .experiments.runner import make_plan, run_spec
    from .experiments.store import Store

    out = out or sys.stdout
    store_path = check_new_store_path(store_path)
    if args.time_limit is not None:
        if args.time_limit <= 0:
            raise BadInput(f"--time-limit: must be > 0, got {args.time_limit}")
        spec = spec.model_copy(update={"time_limit": args.time_limit})
    if spec.device == "cuda" and args.scheduler is None:
        import torch

        if not torch.cuda.is_available():
            raise BadInput("device: the spec asks for 'cuda' but no CUDA device is available")
    make_plan(spec)  # resolves every cell config (estimator defaults included) before writing
    executor = executor_from_args(args)
    try:
        with Store(store_path, create=True) as store:
            progress = Progress(enabled=not args.quiet)
            summary = run_spec(spec, store, executor, spec_text, args.retry_failed, progress)
            progress.close()
    finally:
        executor.close()
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(summary.statuses.items()))
    print(
        f"{spec.name}: ran {summary.ran} cells ({statuses or 'none'}) in {summary.seconds:.1f} s"
        f" ({summary.cells_per_minute:.1f} cells/min); {summary.skipped} already stored",
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
    eps=None,
    n_bootstrap=1000,
    spec_name=None,
    seed=0,
    eps_levels=None,
    comparisons=None,
) -> dict:
    """Write the report of the store at ``store_path`` into ``out_dir``; returns exponents.

    ``eps_levels`` and ``comparisons`` (pairs of learner names) default to the spec's.
    """
    from .experiments.report import ReportError, write_report
    from .experiments.store import Store, StoreError

    try:
        store = Store(store_path)
    except StoreError as error:
        raise BadInput(f"--store: {error}") from None
    with store:
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
            raise BadInput(str(error)) from None


def _open_existing(path):
    from .experiments.store import Store, StoreError

    try:
        return Store(path)
    except StoreError as error:
        raise BadInput(f"--store: {error}") from None


# ---------------------------------------------------------------- subcommands


def _run(args) -> int:
    spec, text = load_spec_or_fail(args.spec)
    summary = run_into_store(spec, text, args.store, args)
    failed = summary.statuses.get("failed", 0)
    if failed:
        print(
            f"{failed} cells failed; see `hierlearn status --store {args.store} --failed`",
            file=sys.stderr,
        )
        return 1
    return 0


def _status(args) -> int:
    with _open_existing(args.store) as store:
        counts = store.counts()
        columns = ("ok", "diverged", "timeout", "failed")
        table: dict[tuple[str, str], dict[str, int]] = {}
        for spec, learner, status, count in counts:
            if args.spec is None or spec == args.spec:
                table.setdefault((spec, learner), {})[status] = count
        print(f"store {args.store}: {sum(sum(v.values()) for v in table.values())} cells")
        width = max([len(f"{s}:{lr}") for s, lr in table] + [7])
        print(f"{'learner':<{width}}  " + "  ".join(f"{c:>8}" for c in columns))
        for (spec, learner), by_status in sorted(table.items()):
            cells = "  ".join(f"{by_status.get(c, 0):>8}" for c in columns)
            print(f"{spec + ':' + learner:<{width}}  {cells}")
        if args.failed:
            where = "status IN ('failed', 'timeout')"
            for row in store.rows(where):
                if args.spec is None or row["spec"] == args.spec:
                    last = (row["error"] or "").strip().splitlines()[-1:] or [""]
                    print(
                        f"{row['status']} {row['key']} {row['spec']}:{row['learner']} "
                        f"d={row['d']} n={row['n']} seed={row['seed']}: {last[0]}"
                    )
    return 0


def _report(args) -> int:
    if args.bootstrap < 1:
        raise BadInput(f"--bootstrap: must be >= 1, got {args.bootstrap}")
    eps, eps_levels = None, None
    if args.eps:
        bad = [value for value in args.eps if not value > 0]
        if bad:
            raise BadInput(f"--eps: every threshold must be > 0, got {bad[0]}")
        eps, eps_levels = min(args.eps), sorted(set(args.eps), reverse=True)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise BadInput(f"--out: directory {out.parent} does not exist")
    comparisons = [tuple(pair) for pair in args.compare] if args.compare else None
    content = report_into(
        args.store, out, eps, args.bootstrap, args.spec, args.seed, eps_levels, comparisons
    )
    from .experiments.tables import report_lines

    for line in report_lines(content):
        print(line)
    print(f"report written to {out}")
    return 0


def _export(args) -> int:
    from .experiments.store import export

    output = Path(args.output or Path(args.store).with_suffix("." + args.format))
    if not output.parent.is_dir():
        raise BadInput(f"--output: directory {output.parent} does not exist")
    with _open_existing(args.store) as store:
        count = export(store, output, args.format)
    print(f"{count} rows written to {output}")
    return 0


def _reproduce(args) -> int:
    from .reproduce import default_out, run_reproduce

    preset = "full" if args.full else "standard" if args.standard else "quick"
    out = Path(args.out) if args.out else default_out(preset)
    if not out.parent.is_dir():
        raise BadInput(f"--out: directory {out.parent} does not exist")
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out: {out} exists and is not a directory")
    if args.bootstrap < 1:
        raise BadInput(f"--bootstrap: must be >= 1, got {args.bootstrap}")
    if args.time_limit is not None and args.time_limit <= 0:
        raise BadInput(f"--time-limit: must be > 0, got {args.time_limit}")
    check_executor_args(args)
    store = Path(args.store) if args.store else out / "store.sqlite"
    if not args.store:
        out.mkdir(exist_ok=True)
    run_reproduce(preset, out, store, args, n_bootstrap=args.bootstrap)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand sets ``handler``."""
    parser = argparse.ArgumentParser(
        prog="hierlearn",
        description="Sample-complexity sweeps of learners on random "
        "neural representations (arXiv 2006.13436).",
    )
    parser.add_argument("--version", action="version", version=f"hierlearn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    reproduce = commands.add_parser(
        "reproduce",
        help="the paper's comparison: n* exponents of NTK-x, NTK-h, Quad-x, Quad-h",
        description="Run the packaged preset (degree-4 separation and degree-2 control) into a "
        "resumable store and write figures, summary.md and exponents.json into --out.",
    )
    size = reproduce.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="minutes on a laptop's CPU (the default)"
    )
    size.add_argument(
        "--standard",
        action="store_true",
        help="about an hour on 2 CPU cores: the paper's representation and the idealised one, "
        "5 seeds, d over a factor 2.5",
    )
    size.add_argument(
        "--full", action="store_true", help="hours: larger d, more seeds (GPU or Dask cluster)"
    )
    reproduce.add_argument("--store", help="the SQLite result file (default: OUT/store.sqlite)")
    reproduce.add_argument("--out", help="output directory (default: hierlearn-reproduce-PRESET)")
    reproduce.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates")
    add_executor_arguments(reproduce)
    reproduce.add_argument(
        "--retry-failed", action="store_true", help="run cells stored as failed or timeout again"
    )
    reproduce.add_argument("--quiet", action="store_true", help="no progress display")
    # One single-threaded worker per core suits the many small fits of a preset.
    reproduce.set_defaults(handler=_reproduce, workers=max(1, min(os.cpu_count() or 1, 8)))

    run = commands.add_parser("run", help="run a spec's cells into a store (resumable)")
    run.add_argument("spec", help="the YAML spec")
    run.add_argument("--store", required=True, help="the SQLite result file (created if absent)")
    add_executor_arguments(run)
    run.add_argument(
        "--retry-failed", action="store_true", help="run cells stored as failed or timeout again"
    )
    run.add_argument("--quiet", action="store_true", help="no progress display")
    run.set_defaults(handler=_run)

    status = commands.add_parser("status", help="count stored cells by learner and status")
    status.add_argument("--store", required=True)
    status.add_argument("--spec", help="only this spec name")
    status.add_argument(
        "--failed",
        action="store_true",
        help="list failed and timed-out cells with their last error line",
    )
    status.set_defaults(handler=_status)

    report = commands.add_parser("report", help="figures, summary.md and exponents.json")
    report.add_argument("--store", required=True)
    report.add_argument("--out", required=True, help="output directory (created)")
    report.add_argument(
        "--eps",
        type=float,
        nargs="+",
        metavar="EPS",
        help="thresholds of n*; the smallest is the headline one (default: the spec's eps and "
        "report_eps)",
    )
    report.add_argument(
        "--compare",
        nargs=2,
        action="append",
        metavar=("A", "B"),
        help="compare learners A and B seed by seed: e(A) - e(B) and n*_A / n*_B per d, with "
        "bootstrap intervals (repeatable; default: the spec's comparisons)",
    )
    report.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates")
    report.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    report.add_argument("--spec", help="only this spec name")
    report.set_defaults(handler=_report)

    export = commands.add_parser("export", help="write every stored row as CSV or Parquet")
    export.add_argument("--store", required=True)
    export.add_argument("--format", choices=("csv", "parquet"), required=True)
    export.add_argument(
        "--output", help="output file (default: the store path with the format's suffix)"
    )
    export.set_defaults(handler=_export)
    return parser


def main(argv=None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input, 1 failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with code 2 on unknown options
    try:
        return args.handler(args)
    except BadInput as error:
        print(f"hierlearn {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"hierlearn {args.command}: interrupted; finished cells are stored, the same "
            "command resumes",
            file=sys.stderr,
        )
        return 1
    except Exception:
        traceback.print_exc()
        print(f"hierlearn {args.command}: failed", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # Import the module by its package name so that its exception classes are the ones that
    # the library raises (``python -m hierlearn.cli`` would otherwise load it twice).
    from hierlearn.cli import main as _main

    sys.exit(_main())
