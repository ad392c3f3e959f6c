"""The ``hierlearn`` command line.

    hierlearn run spec.yaml --store PATH [--workers N | --scheduler ADDRESS | --cluster local:N]
                  [--threads T] [--time-limit S] [--lease-seconds S] [--device cpu|cuda]
                  [--retry-failed] [--quiet]
    hierlearn status --store PATH [--spec NAME] [--failed]
    hierlearn report --store PATH --out DIR [--eps E ...] [--compare A B] [--bootstrap B]
                     [--spec NAME]
    hierlearn export --store PATH --format csv|parquet [--output FILE]
    hierlearn reproduce [--quick | --standard | --large | --full] [--store PATH] [--out DIR]
                        [--device cpu|cuda] [executor options]

Exit codes: 0 success; 2 bad input (an invalid spec, with one ``field.path: problem`` line per
error; a missing file or directory; bad options), in which case the store is neither created
nor modified; 1 failure (an error while running, or cells of this run stored as "failed").

The command line is a thin shell: each subcommand parses its options into plain values and
calls the library ([`hierlearn.experiments.workflow`][], [`hierlearn.experiments.reproduce`][]),
which checks them and raises [`InputError`][hierlearn.experiments.workflow.InputError] (exit code 2)
before anything is written.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from . import __version__
from ._extras import MissingExtra

try:
    from .experiments.defaults import N_BOOTSTRAP
    from .experiments.report.tables import report_lines
    from .experiments.workflow import (
        ExecutorOptions,
        InputError,
        check_device,
        load_spec_checked,
        open_store,
        parse_cluster,
        report_into,
        run_into_store,
    )
except MissingExtra as error:  # main() reports it with the install command, before any use
    MISSING_EXTRA: MissingExtra | None = error
    N_BOOTSTRAP = None  # the parser is built before main() reports the missing extra
else:
    MISSING_EXTRA = None

# ---------------------------------------------------------------- shared pieces


def add_executor_arguments(parser: argparse.ArgumentParser, cpu_workers: str = "1") -> None:
    """``--workers`` / ``--scheduler`` / ``--cluster``, ``--threads``, ``--time-limit``;
    ``cpu_workers`` is the default worker count on the CPU, as the help gives it."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        default=None,  # the device's default, resolved by the library
        metavar="N",
        help=f"local worker processes (default {cpu_workers}, or one per visible GPU when the "
        "cells compute on cuda; 0 runs cells in this process)",
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
    parser.add_argument(
        "--lease-seconds",
        type=float,
        metavar="S",
        help="how long a cell stays claimed by this runner without a heartbeat before another "
        "runner on the same store may take it over (default 60, or HIERLEARN_LEASE_SECONDS)",
    )


# The flag of each library argument that an InputError can name (the library's words are
# its argument names; the command line's are its flags).
FLAGS = {
    "store_path": "--store",
    "out_dir": "--out",
    "out": "--out",
    "output": "--output",
    "workers": "--workers",
    "scheduler": "--scheduler",
    "cluster": "--cluster",
    "threads": "--threads",
    "time_limit": "--time-limit",
    "lease_seconds": "--lease-seconds",
    "n_bootstrap": "--bootstrap",
    "eps_levels": "--eps",
    "device": "--device",
}


def flag_message(error: InputError) -> str:
    """The error in the command line's words: ``--workers: must be >= 0, got -1``."""
    if not error.arguments:
        return error.problem
    names = " and ".join(FLAGS.get(name, name) for name in error.arguments)
    return f"{names}: {error.problem}"


def add_device_argument(parser: argparse.ArgumentParser, help: str, default=None) -> None:
    """``--device cpu|cuda`` (argparse refuses any other value with exit code 2)."""
    parser.add_argument("--device", choices=("cpu", "cuda"), default=default, help=help)


def check_device_flag(args) -> None:
    """InputError ("--device: ...") when ``--device cuda`` is given and torch sees no CUDA
    device (unless a Dask scheduler's workers compute the cells)."""
    if args.device is not None:
        check_device(args.device, here=args.scheduler is None)


def lease_seconds(args) -> float | None:
    """``--lease-seconds``, else ``HIERLEARN_LEASE_SECONDS`` from the environment (the one
    place it is read), else None (the library's default)."""
    if args.lease_seconds is not None:
        return args.lease_seconds
    text = os.environ.get("HIERLEARN_LEASE_SECONDS")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise InputError("HIERLEARN_LEASE_SECONDS", f"must be a number > 0, got {text!r}")
    return value


def executor_options(args) -> ExecutorOptions:
    """The executor options parsed by `add_executor_arguments` (checked)."""
    options = ExecutorOptions(
        workers=args.workers,
        scheduler=args.scheduler,
        cluster=parse_cluster(args.cluster),
        threads=args.threads,
    )
    options.check()
    return options


# ---------------------------------------------------------------- subcommands


def _run(args) -> int:
    check_device_flag(args)
    spec, text = load_spec_checked(args.spec)
    summary = run_into_store(
        spec,
        text,
        args.store,
        executor_options(args),
        time_limit=args.time_limit,
        lease_seconds=lease_seconds(args),
        retry_failed=args.retry_failed,
        progress=not args.quiet,
        device=args.device,
    )
    failed = summary.statuses.get("failed", 0)
    if failed:
        print(
            f"{failed} cells failed; see `hierlearn status --store {args.store} --failed`",
            file=sys.stderr,
        )
        return 1
    return 0


def _status(args) -> int:
    with open_store(args.store) as store:
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
        _print_leases(store, args.spec)
    return 0


def _print_leases(store, spec_name) -> None:
    """The cells that runners are computing (their leases) and who runs them."""
    from datetime import datetime

    def clock(seconds: float) -> str:
        return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")

    leases = [x for x in store.book.leases() if spec_name is None or x["spec"] == spec_name]
    runners = {r["owner"]: r for r in store.book.runners()}
    if not leases and not any(r["live"] for r in runners.values()):
        return
    print(f"running: {len(leases)} cells leased")
    owners = {x["owner"] for x in leases} | {o for o, r in runners.items() if r["live"]}
    for owner in sorted(owners):
        held = [x for x in leases if x["owner"] == owner]
        runner = runners.get(owner)
        host, pid = (runner["host"], runner["pid"]) if runner else (held[0]["host"], held[0]["pid"])
        since = runner["started_at"] if runner else min(x["since"] for x in held)
        state = "live" if runner and runner["live"] else "not heartbeating (leases expire)"
        print(f"  runner {host} pid {pid} since {clock(since)}: {len(held)} cells, {state}")
        for lease in held:
            expired = "  (expired: another runner will take it)" if lease["expired"] else ""
            print(
                f"    {lease['key']} {lease['spec']}:{lease['learner']} d={lease['d']} "
                f"n={lease['n']} seed={lease['seed']} since {clock(lease['since'])}{expired}"
            )


def _report(args) -> int:
    comparisons = [tuple(pair) for pair in args.compare] if args.compare else None
    content = report_into(
        args.store,
        args.out,
        eps_levels=args.eps,
        comparisons=comparisons,
        n_bootstrap=args.bootstrap,
        spec_name=args.spec,
        seed=args.seed,
    )
    for line in report_lines(content):
        print(line)
    print(f"report written to {args.out}")
    return 0


def _export(args) -> int:
    from .experiments.run.store import export

    output = Path(args.output or Path(args.store).with_suffix("." + args.format))
    if not output.parent.is_dir():
        raise InputError("output", f"directory {output.parent} does not exist")
    with open_store(args.store) as store:
        count = export(store, output, args.format)
    print(f"{count} rows written to {output}")
    return 0


def _reproduce(args) -> int:
    from .experiments.reproduce import default_out, run_reproduce

    preset = next((p for p in ("full", "large", "standard") if getattr(args, p)), "quick")
    check_device_flag(args)
    run_reproduce(
        preset,
        Path(args.out) if args.out else default_out(preset),
        args.store,
        executor_options(args),
        time_limit=args.time_limit,
        lease_seconds=lease_seconds(args),
        retry_failed=args.retry_failed,
        progress=not args.quiet,
        n_bootstrap=args.bootstrap,
        device=args.device,
    )
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
        "--large",
        action="store_true",
        help="the theorem's estimator (the convex quadratic form on He_2 features and on the "
        "paper's h) against Quad-x at d = 8 ... 24, with and without label noise (noise-free "
        "part: about 80 minutes on 2 cores with --workers 2; resumable)",
    )
    size.add_argument(
        "--full",
        action="store_true",
        help="hours: larger d, more seeds; sized for one GPU (--full --device cuda) or a Dask "
        "cluster",
    )
    reproduce.add_argument("--store", help="the SQLite result file (default: OUT/store.sqlite)")
    reproduce.add_argument("--out", help="output directory (default: hierlearn-reproduce-PRESET)")
    reproduce.add_argument(
        "--bootstrap",
        type=int,
        default=N_BOOTSTRAP,
        help="bootstrap replicates (default: %(default)s)",
    )
    add_executor_arguments(reproduce, cpu_workers="one per core, at most 8")
    add_device_argument(
        reproduce,
        "where every part's cells compute (default cpu). The device is part of every cell's "
        "key, so results computed on one device are not reused on the other. cuda needs a CUDA "
        "device that torch sees",
        default="cpu",
    )
    reproduce.add_argument(
        "--retry-failed", action="store_true", help="run cells stored as failed or timeout again"
    )
    reproduce.add_argument("--quiet", action="store_true", help="no progress display")
    reproduce.set_defaults(handler=_reproduce)

    run = commands.add_parser("run", help="run a spec's cells into a store (resumable)")
    run.add_argument("spec", help="the YAML spec")
    run.add_argument("--store", required=True, help="the SQLite result file (created if absent)")
    add_executor_arguments(run)
    add_device_argument(
        run,
        "where the cells compute; overrides the spec's device field (default: the spec's). The "
        "device is part of every cell's key, so results computed on one device are not reused "
        "on the other. cuda needs a CUDA device that torch sees",
    )
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
    report.add_argument(
        "--bootstrap",
        type=int,
        default=N_BOOTSTRAP,
        help="bootstrap replicates (default: %(default)s)",
    )
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


def help_texts(columns: int = 100) -> dict[str, str]:
    """{"": ``hierlearn --help``, command: ``hierlearn COMMAND --help``} at a terminal width of
    ``columns`` (the source of the documentation's command-line reference)."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)  # argparse wraps to the terminal's width
    try:
        parser = build_parser()
        texts = {"": parser.format_help()}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, subparser in action.choices.items():
                    texts[name] = subparser.format_help()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return texts


def main(argv=None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input, 1 failure, 130 / 143 stopped by
    SIGINT / SIGTERM)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with code 2 on unknown options
    if MISSING_EXTRA is not None:
        print(f"hierlearn {args.command}: error: {MISSING_EXTRA}", file=sys.stderr)
        return 1
    from .experiments.run.runner import stop_signals

    try:
        # SIGINT and SIGTERM stop the command cleanly (leases released) with 128 + signal.
        with stop_signals():
            return args.handler(args)
    except InputError as error:
        print(f"hierlearn {args.command}: error: {flag_message(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        import signal

        number = getattr(stop, "signum", signal.SIGINT)
        print(
            f"hierlearn {args.command}: interrupted ({signal.Signals(number).name}); finished "
            "cells are stored, the same command resumes",
            file=sys.stderr,
        )
        return 128 + number
    except Exception:
        traceback.print_exc()
        print(f"hierlearn {args.command}: failed", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # Import the module by its package name so that its exception classes are the ones that
    # the library raises (``python -m hierlearn.cli`` would otherwise load it twice).
    from hierlearn.cli import main as _main

    sys.exit(_main())
