"""Reports from a store: the tables (`tables`), the figures (`plots`) and the report
directory that holds them (`report`: ``summary.md``, ``exponents.json`` and the figures).

The names below are imported on first use: the command line reads the tables without
loading the analysis and the store.
"""

from typing import TYPE_CHECKING

from ..._lazy import lazy_attributes

_NAMES = {
    "ReportError": "report",
    "current_rows": "report",
    "default_comparisons": "report",
    "default_eps": "report",
    "default_eps_levels": "report",
    "write_report": "report",
}
__getattr__, __dir__ = lazy_attributes(globals(), _NAMES)

if TYPE_CHECKING:  # what static tools read
    from .report import (
        ReportError,
        current_rows,
        default_comparisons,
        default_eps,
        default_eps_levels,
        write_report,
    )

__all__ = [
    "ReportError",
    "current_rows",
    "default_comparisons",
    "default_eps",
    "default_eps_levels",
    "write_report",
]
