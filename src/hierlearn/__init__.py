"""hierlearn: learning on fixed random neural representations (arXiv 2006.13436).

The public names below follow the objects of docs/theory.md: inputs and targets, the random
representation, the Taylor models of a two-layer network, the estimators, the infinite-width
kernels and the predicted sample-complexity exponents. They are imported on first use
(``import hierlearn`` alone imports neither torch nor scikit-learn).
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

__version__ = "0.1.0"

_NAMES = {
    "DivergenceError": "exceptions",
    "GaussianInputs": "inputs",
    "KernelRegressor": "estimators",
    "LowRankPolynomial": "targets",
    "NTKRegressor": "estimators",
    "QuadraticFormRegressor": "estimators",
    "QuadraticTaylorRegressor": "estimators",
    "RandomNetworkRepresentation": "representations",
    "SphereInputs": "inputs",
    "TwoLayerRegressor": "estimators",
    "relative_error": "metrics",
    "relative_error_and_se": "metrics",
}
_SUBMODULES = ("activations", "kernels", "taylor", "theory")
__getattr__, __dir__ = lazy_attributes(globals(), _NAMES, _SUBMODULES)

if TYPE_CHECKING:  # what static tools and the API reference read
    from . import activations, kernels, taylor, theory
    from .estimators import (
        KernelRegressor,
        NTKRegressor,
        QuadraticFormRegressor,
        QuadraticTaylorRegressor,
        TwoLayerRegressor,
    )
    from .exceptions import DivergenceError
    from .inputs import GaussianInputs, SphereInputs
    from .metrics import relative_error, relative_error_and_se
    from .representations import RandomNetworkRepresentation
    from .targets import LowRankPolynomial

__all__ = [
    "DivergenceError",
    "GaussianInputs",
    "KernelRegressor",
    "LowRankPolynomial",
    "NTKRegressor",
    "QuadraticFormRegressor",
    "QuadraticTaylorRegressor",
    "RandomNetworkRepresentation",
    "SphereInputs",
    "TwoLayerRegressor",
    "__version__",
    "activations",
    "kernels",
    "relative_error",
    "relative_error_and_se",
    "taylor",
    "theory",
]
