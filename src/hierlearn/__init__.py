"""hierlearn: learning on fixed random neural representations (arXiv 2006.13436).

The public names below follow SPEC section 4: inputs and targets, the random representation,
the Taylor models of a two-layer network, the estimators, the infinite-width kernels and the
predicted sample-complexity exponents.
"""

from . import activations, taylor, theory
from .exceptions import DivergenceError

__version__ = "0.1.0"

__all__ = [
    "DivergenceError",
    "__version__",
    "activations",
    "taylor",
    "theory",
]
