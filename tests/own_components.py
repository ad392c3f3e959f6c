"""Targets and classes that the own-learner tests name by import path (``own_components:...``;
tests/ is on the import path of the test process)."""

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin


def product(X: torch.Tensor) -> torch.Tensor:
    """f(x) = x_1 x_2: E f^2 = E x_1^2 E x_2^2 = 1 under gaussian inputs."""
    return X[:, 0] * X[:, 1]


def square_as_array(X: torch.Tensor) -> np.ndarray:
    """f(x) = (x_1^2 - 1) / sqrt(2), returned as an (n, 1) numpy array: E f^2 = 1 (gaussian)."""
    return ((X[:, :1] ** 2 - 1) / np.sqrt(2)).numpy()


def wrong_shape(X: torch.Tensor) -> torch.Tensor:
    """Returns one value too few: refused when the spec is loaded."""
    return X[1:, 0]


NOT_CALLABLE = 3.0


class Zero(RegressorMixin, BaseEstimator):
    """Predicts 0 everywhere: its relative test error is the target's E f^2 over the given
    second moment."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def fit(self, X, y):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X):
        return np.zeros(len(X))


class Seeded(RegressorMixin, BaseEstimator):
    """Records the random_state the harness passes (predicts the training mean)."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        self.seen_random_state_ = self.random_state
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


class NeedsWidth:
    """A regressor with a constructor parameter that has no default."""

    def __init__(self, width):
        self.width = width

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(len(X))
