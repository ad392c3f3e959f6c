"""Build the representation and estimator of a cell from its resolved config.

The spec leaves out parameters it does not set; `estimator_defaults` reads the
estimator's own defaults from its ``__init__`` signature so that a resolved config (and the
cell key hashed from it) names every hyperparameter. ``device`` and ``random_state`` are set by
the harness, never by the spec.
"""

from __future__ import annotations

import importlib
import inspect

from .imports import HARNESS_PARAMETERS, build_regressor

# Model kind -> (module, class name) of the estimator.
ESTIMATORS = {
    "ntk": ("hierlearn.estimators", "NTKRegressor"),
    "quadratic_taylor": ("hierlearn.estimators", "QuadraticTaylorRegressor"),
    "two_layer": ("hierlearn.estimators", "TwoLayerRegressor"),
    "kernel": ("hierlearn.estimators.kernel", "KernelRegressor"),
    "quadratic_form": ("hierlearn.estimators.quadratic_form", "QuadraticFormRegressor"),
}
# Kind -> the parameter that may be a list, solved as one path (one factorisation for a
# ridge, warm starts for a penalty) and chosen on validation data by the estimator itself.
PATH_PARAMETERS = {"ntk": "ridge", "kernel": "ridge", "quadratic_form": "reg"}


def estimator_class(kind: str) -> type:
    """The scikit-learn estimator class of a model kind."""
    module, name = ESTIMATORS[kind]
    return getattr(importlib.import_module(module), name)


def representation_class() -> type:
    """[`hierlearn.representations.RandomNetworkRepresentation`][]."""
    from ...representations import RandomNetworkRepresentation

    return RandomNetworkRepresentation


def _defaults(cls: type) -> dict:
    signature = inspect.signature(cls.__init__)
    return {
        name: parameter.default
        for name, parameter in signature.parameters.items()
        if name != "self"
        and name not in HARNESS_PARAMETERS
        and parameter.default is not inspect.Parameter.empty
    }


def estimator_defaults(kind: str) -> dict:
    """The estimator's ``__init__`` defaults, without ``device`` and ``random_state``."""
    return _defaults(estimator_class(kind))


def representation_defaults() -> dict:
    """The representation's ``__init__`` defaults, without ``device`` and ``random_state``."""
    return _defaults(representation_class())


def build_estimator(
    kind: str, params: dict, device: str, random_state: int, class_path: str | None = None
):
    """A fresh estimator with the given parameters (a ridge or penalty list stays a list).

    Kind ``estimator`` builds the class at ``class_path`` (any scikit-learn-compatible
    regressor, see `hierlearn.experiments.spec.imports`), passing ``random_state``
    (modulo 2^32) and ``device`` only where its constructor takes them.
    """
    if kind == "estimator":
        if class_path is None:
            raise ValueError("model kind 'estimator' needs class_path, the class's import path")
        return build_regressor(class_path, params, device, random_state)
    return estimator_class(kind)(**params, device=device, random_state=random_state)


def build_representation(params: dict, device: str, random_state: int):
    """A fresh [`RandomNetworkRepresentation`][hierlearn.RandomNetworkRepresentation] (params
    without ``kind``)."""
    return representation_class()(**params, device=device, random_state=random_state)


def accepts_validation(estimator) -> bool:
    """Whether ``estimator.fit`` takes ``X_val`` and ``y_val``."""
    parameters = inspect.signature(estimator.fit).parameters
    return "X_val" in parameters and "y_val" in parameters
