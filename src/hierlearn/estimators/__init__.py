"""Scikit-learn regressors: the NTK, quadratic Taylor and two-layer models."""

from .ntk import NTKRegressor
from .quadratic import QuadraticTaylorRegressor
from .two_layer import TwoLayerRegressor

__all__ = ["NTKRegressor", "QuadraticTaylorRegressor", "TwoLayerRegressor"]
