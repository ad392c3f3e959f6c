"""The experiment harness: specs, cells, the result store, executors, n* search and reports.

A sweep is a YAML spec ([`spec`][hierlearn.experiments.spec]) expanded into cells (`cells`), each a
pure function
of its resolved config, run by an executor (`executors`: in-process, a local process
pool, Dask) under a driver (`runner`) that commits every finished row to a SQLite store
([`store`][hierlearn.experiments.store]). Sizes are a list, a geometric grid, or an adaptive n*
search
(`adaptive`). [`analysis`][hierlearn.experiments.analysis], `plots` and `report` turn stored rows
into
n*(d), exponents with bootstrap intervals, figures and ``exponents.json``.
[`workflow`][hierlearn.experiments.workflow]
holds the three jobs as functions of plain values (run a spec into a store, write a report)
and [`reproduce`][hierlearn.experiments.reproduce] the packaged presets; the command line is a shell
over them.
"""

from .._extras import require_experiments

require_experiments()  # a clear message naming the extra, before any import fails

from .analysis import NStar, analyse, exponents_json, n_star  # noqa: E402
from .cells import cell_config, cell_key, grid_cells, learner_config, run_cell  # noqa: E402
from .executors import DaskExecutor, InlineExecutor, LocalPoolExecutor, make_executor  # noqa: E402
from .report import write_report  # noqa: E402
from .runner import RunSummary, make_plan, run_spec  # noqa: E402
from .spec import Spec, SpecError, load_spec, parse_spec  # noqa: E402
from .store import Store, StoreError, export  # noqa: E402
from .workflow import ExecutorOptions, InputError, report_into, run_into_store  # noqa: E402

__all__ = [
    "DaskExecutor",
    "ExecutorOptions",
    "InlineExecutor",
    "InputError",
    "LocalPoolExecutor",
    "NStar",
    "RunSummary",
    "Spec",
    "SpecError",
    "Store",
    "StoreError",
    "analyse",
    "cell_config",
    "cell_key",
    "exponents_json",
    "export",
    "grid_cells",
    "learner_config",
    "load_spec",
    "make_executor",
    "make_plan",
    "n_star",
    "parse_spec",
    "report_into",
    "run_cell",
    "run_into_store",
    "run_spec",
    "write_report",
]
