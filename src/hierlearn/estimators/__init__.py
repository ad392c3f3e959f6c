"""Scikit-learn regressors: the NTK, quadratic Taylor, two-layer and kernel models."""

from .kernel import KernelRegressor
from .ntk import NTKRegressor
from .quadratic import QuadraticTaylorRegressor
from .two_layer import TwoLayerRegressor

__all__ = ["KernelRegressor", "NTKRegressor", "QuadraticTaylorRegressor", "TwoLayerRegressor"]
