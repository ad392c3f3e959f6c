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
    "cell_config": "cells",
    "cell_key": "cells",
    "grid_cells": "cells",
    "learner_config": "cells",
    "run_cell": "cells",
    "DaskExecutor": "executors",
    "InlineExecutor": "executors",
    "LocalPoolExecutor": "executors",
    "make_executor": "executors",
    "write_report": "report",
    "RunSummary": "runner",
    "make_plan": "runner",
    "run_spec": "runner",
    "Spec": "spec",
    "SpecError": "spec",
    "load_spec": "spec",
    "parse_spec": "spec",
    "Store": "store",
    "StoreError": "store",
    "export": "store",
    "ExecutorOptions": "workflow",
    "InputError": "workflow",
    "report_into": "workflow",
    "run_into_store": "workflow",
}
__getattr__, __dir__ = lazy_attributes(globals(), _NAMES)

if TYPE_CHECKING:  # what static tools and the API reference read
    from .analysis import NStar, analyse, exponents_json, n_star
    from .cells import cell_config, cell_key, grid_cells, learner_config, run_cell
    from .executors import DaskExecutor, InlineExecutor, LocalPoolExecutor, make_executor
    from .report import write_report
    from .runner import RunSummary, make_plan, run_spec
    from .spec import Spec, SpecError, load_spec, parse_spec
    from .store import Store, StoreError, export
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
