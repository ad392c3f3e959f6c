"""The experiment harness, in four layers that import only downward.

* [`spec`][hierlearn.experiments.spec]: what to run, a YAML spec validated into models
  (size expressions, model parameters generated from the estimators, the tuning protocol);
* `run`: the spec resolved per (learner, d) into cells (`run.cells`), each a pure function
  of its resolved config, sizes from a list, a grid or an adaptive n* search
  (`run.adaptive`), run by an executor (`run.executors`: in-process, a local process pool,
  Dask) under a driver (`run.runner`) that commits every finished row to a SQLite store
  ([`run.store`][hierlearn.experiments.run.store]);
* [`analysis`][hierlearn.experiments.analysis]: n*(d) and exponents with bootstrap intervals,
  paired comparisons, theory's predictions;
* `report`: tables, figures, ``summary.md`` and ``exponents.json``.

Above them, [`workflow`][hierlearn.experiments.workflow] holds the jobs as functions of plain
values (run a spec into a store, write a report) and
[`reproduce`][hierlearn.experiments.reproduce] the packaged presets; the command line is a
shell over them.
"""

from typing import TYPE_CHECKING

from .._extras import require_experiments
from .._lazy import lazy_attributes

require_experiments()  # a clear message naming the extra, before any import fails

# The names below are imported on first use: the command line's --help needs none of them.
_NAMES = {
    "NStar": "analysis",
    "analyse": "analysis",
    "exponents_json": "analysis",
    "n_star": "analysis",
    "cell_config": "run.cells",
    "cell_key": "run.cells",
    "grid_cells": "run.cells",
    "learner_config": "run.cells",
    "run_cell": "run.cells",
    "DaskExecutor": "run.executors",
    "InlineExecutor": "run.executors",
    "LocalPoolExecutor": "run.executors",
    "make_executor": "run.executors",
    "write_report": "report.report",
    "RunSummary": "run.runner",
    "make_plan": "run.runner",
    "run_spec": "run.runner",
    "Spec": "spec",
    "SpecError": "spec",
    "load_spec": "spec",
    "parse_spec": "spec",
    "Store": "run.store",
    "StoreError": "run.store",
    "export": "run.store",
    "ExecutorOptions": "workflow",
    "InputError": "workflow",
    "report_into": "workflow",
    "run_into_store": "workflow",
}
__getattr__, __dir__ = lazy_attributes(globals(), _NAMES)

if TYPE_CHECKING:  # what static tools and the API reference read
    from .analysis import NStar, analyse, exponents_json, n_star
    from .report.report import write_report
    from .run.cells import cell_config, cell_key, grid_cells, learner_config, run_cell
    from .run.executors import DaskExecutor, InlineExecutor, LocalPoolExecutor, make_executor
    from .run.runner import RunSummary, make_plan, run_spec
    from .run.store import Store, StoreError, export
    from .spec import Spec, SpecError, load_spec, parse_spec
    from .workflow import ExecutorOptions, InputError, report_into, run_into_store

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
