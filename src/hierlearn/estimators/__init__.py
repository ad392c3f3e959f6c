"""Scikit-learn regressors: the NTK, quadratic Taylor, quadratic-form, two-layer and kernel
models."""

from .kernel import KernelRegressor
from .ntk import NTKRegressor
from .quadratic import QuadraticTaylorRegressor
from .quadratic_form import QuadraticFormRegressor
from .two_layer import TwoLayerRegressor

__all__ = [
    "KernelRegressor",
    "NTKRegressor",
    "QuadraticFormRegressor",
    "QuadraticTaylorRegressor",
    "TwoLayerRegressor",
]
