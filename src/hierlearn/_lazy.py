"""Package attributes imported on first use (PEP 562), so that ``import hierlearn`` and the
command line's ``--help`` do not import torch, scikit-learn and the harness up front."""

from __future__ import annotations

import importlib


def lazy_attributes(namespace: dict, names: dict[str, str], submodules: tuple[str, ...] = ()):
    """(``__getattr__``, ``__dir__``) for the package whose ``globals()`` is ``namespace``: each
    of ``names`` is imported from its module (relative to the package) on first access and
    kept; each of ``submodules`` is the submodule itself."""
    package = namespace["__name__"]

    def __getattr__(name: str):
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names) | set(submodules))

    return __getattr__, __dir__
