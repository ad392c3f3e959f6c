"""Optional dependencies: the library needs torch, numpy, scipy and scikit-learn; the
measurement harness and the command line (`hierlearn.experiments`, `hierlearn.cli`)
need the ``experiments`` extra: ``pip install -e '.[experiments]'`` in a checkout."""

from __future__ import annotations

import importlib.util
import sys

# module -> the requirement that provides it (pyproject.toml, extra "experiments").
EXPERIMENTS = {
    "pydantic": "pydantic",
    "yaml": "pyyaml",
    "distributed": "dask[distributed]",
    "matplotlib": "matplotlib",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "tqdm": "tqdm",
}


def missing(modules: dict[str, str]) -> list[str]:
    """The requirements of ``modules`` whose module cannot be imported (without importing)."""
    absent = []
    for module, requirement in modules.items():
        if module in sys.modules:
            if sys.modules[module] is None:  # blocked
                absent.append(requirement)
        elif importlib.util.find_spec(module) is None:
            absent.append(requirement)
    return absent


class MissingExtra(ModuleNotFoundError):
    """An optional dependency of the harness is not installed."""


def require_experiments() -> None:
    """Raise `MissingExtra` naming the extra when a harness dependency is absent."""
    absent = missing(EXPERIMENTS)
    if absent:
        raise MissingExtra(
            "the hierlearn harness and command line need the 'experiments' extra: "
            "run pip install -e '.[experiments]' in a hierlearn checkout "
            f"(missing: {', '.join(absent)})"
        )
