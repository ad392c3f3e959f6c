"""The linearised (NTK) two-layer network, fitted exactly by ridge regression.

The model f^L_W is that of docs/theory.md §1.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._random import make_generator
from .._validation import (
    check_choice,
    check_float,
    check_int,
    check_matrix,
    check_targets,
    resolve_device,
    resolve_dtype,
)
from ..activations import trainable_activation
from ..kernels.empirical import empirical_ntk
from ..linalg import ridge_path, solve_psd
from ..taylor import linear_term, random_init, symmetric_init
from ._common import ridge_grid, with_input_bias

SOLVERS = ("auto", "dual", "primal")


class NTKRegressor(RegressorMixin, BaseEstimator):
    """Ridge regression on the linear (NTK) term f^L_W of a random two-layer network.

    Solves exactly

    .. math::

        \\min_W \\frac1n \\sum_i (y_i - f^L_W(z_i))^2 + r \\|W\\|_F^2, \\qquad
        f^L_W(z) = \\frac{1}{\\sqrt m} \\sum_r a_r\\, act'(w_{0,r}\\cdot z)\\,(w_r\\cdot z),

    with ``ridge`` = r. f^L_W(z) = <W, phi(z)> with phi(z)_r = a_r act'(w_{0,r}.z) z / sqrt(m),
    whose kernel is the empirical NTK

        K(z, z') = (1/m) sum_r act'(w_{0,r}.z) act'(w_{0,r}.z') <z, z'>,

    the finite-width version of :func:`hierlearn.kernels.ntk`. The ``dual`` solver computes
    alpha = (K + n r I)^{-1} y and W = sum_i alpha_i phi(z_i) (one n x n solve, float64 by
    default); the ``primal`` one solves (Phi^T Phi + n r I) vec W = Phi^T y (an mD' x mD'
    solve); ``auto`` picks the smaller.

    Args:
        width: m, the number of neurons (even with ``symmetric``).
        activation: trainable activation whose act' enters f^L (default relu, act' = step).
        ridge: r >= 0, or a list of values: then ``fit`` needs ``X_val, y_val`` and keeps the
            value with the smallest validation error, reusing one eigendecomposition.
        solver: "auto", "dual" or "primal".
        symmetric: symmetric initialisation (neurons in pairs with opposite a_r).
        input_bias: when > 0, a constant coordinate of this value is appended to every z
            (a first-layer bias; see :func:`hierlearn.estimators._common.with_input_bias`).
        device: "cpu" or "cuda".
        dtype: "float64" (default) or "float32".
        random_state: seed of W0 and a.

    Attributes:
        W0_, a_: the random initialisation; W_: the fitted movement (m, D');
        ridge_: the ridge used; validation_errors_: {ridge: relative validation error} when a
        list was given.
    """

    def __init__(
        self,
        width: int = 1024,
        activation: str = "relu",
        ridge=1e-3,
        solver: str = "auto",
        symmetric: bool = True,
        input_bias: float = 0.0,
        device: str = "cpu",
        dtype: str = "float64",
        random_state=None,
    ):
        self.width = width
        self.activation = activation
        self.ridge = ridge
        self.solver = solver
        self.symmetric = symmetric
        self.input_bias = input_bias
        self.device = device
        self.dtype = dtype
        self.random_state = random_state

    def _slopes(self, z: torch.Tensor) -> torch.Tensor:
        """act'(w_{0,r} . z_i) of shape (n, m)."""
        return trainable_activation(self.activation).d1(z @ self.W0_.T)

    def _kernel(self, z1: torch.Tensor, z2: torch.Tensor | None = None) -> torch.Tensor:
        """The empirical NTK of the fitted W0 (z2 = None: the Gram matrix of z1)."""
        return empirical_ntk(self.W0_, z1, z2, self.activation, dtype=z1.dtype)

    def _features(self, z: torch.Tensor) -> torch.Tensor:
        """phi(z) of shape (n, m * D'), row-major in (r, feature)."""
        slopes = self._slopes(z) * (self.a_ / math.sqrt(self.width))
        return (slopes.unsqueeze(2) * z.unsqueeze(1)).reshape(z.shape[0], -1)

    def fit(self, X, y, X_val=None, y_val=None):
        """Fit W exactly; with a list of ridges choose one on (X_val, y_val)."""
        check_int("width", self.width, minimum=1)
        if self.symmetric and self.width % 2:
            raise ValueError(f"width must be even with symmetric=True, got {self.width}")
        trainable_activation(self.activation)
        check_choice("solver", self.solver, SOLVERS)
        ridges = ridge_grid(self.ridge)
        check_float("input_bias", self.input_bias, minimum=0.0)
        device, dtype = resolve_device(self.device), resolve_dtype(self.dtype)
        X = check_matrix("X", X)
        y = check_targets("y", y, X.shape[0])
        if len(ridges) > 1 and (X_val is None or y_val is None):
            raise ValueError("ridge is a list: pass X_val and y_val to fit to choose among them")
        self.n_features_in_ = X.shape[1]
        X = with_input_bias(X, self.input_bias)
        n, dim = X.shape
        generator = make_generator(self.random_state)
        init = symmetric_init if self.symmetric else random_init
        self.W0_, self.a_ = init(self.width, dim, generator, dtype=dtype, device=device)
        z = torch.as_tensor(X, device=device, dtype=dtype)
        targets = torch.as_tensor(y, device=device, dtype=dtype)
        solver = self.solver
        if solver == "auto":
            solver = "dual" if n <= self.width * dim else "primal"
        gram = self._kernel(z) if solver == "dual" else None
        if len(ridges) > 1:
            X_val = check_matrix("X_val", X_val, self.n_features_in_)
            X_val = with_input_bias(X_val, self.input_bias)
            y_val = check_targets("y_val", y_val, X_val.shape[0])
            self.validation_errors_ = self._ridge_path(z, targets, gram, X_val, y_val, ridges)
            self.ridge_ = min(self.validation_errors_, key=self.validation_errors_.get)
        else:
            self.ridge_ = ridges[0]
        if solver == "dual":
            alpha = solve_psd(gram, targets, n * self.ridge_)
            slopes = self._slopes(z) * alpha.unsqueeze(1)
            self.W_ = (slopes.T @ z) * (self.a_ / math.sqrt(self.width)).unsqueeze(1)
        else:
            features = self._features(z)
            weights = solve_psd(features.T @ features, features.T @ targets, n * self.ridge_)
            self.W_ = weights.reshape(self.width, dim)
        self.solver_ = solver
        return self

    def _ridge_path(self, z, targets, gram, X_val, y_val, ridges) -> dict[float, float]:
        """Relative validation error of every ridge from one eigendecomposition."""
        n = z.shape[0]
        z_val = torch.as_tensor(X_val, device=z.device, dtype=z.dtype)
        y_val_t = torch.as_tensor(y_val, device=z.device, dtype=z.dtype)
        if gram is not None:
            predictions = ridge_path(gram, targets, self._kernel(z_val, z), ridges).predictions
        else:
            # Primal: W_r = (Phi^T Phi + n r I)^{-1} Phi^T y from one eigendecomposition.
            features = self._features(z)
            eigenvalues, eigenvectors = torch.linalg.eigh(features.T @ features)
            projected = eigenvectors.T @ (features.T @ targets)
            shifted = eigenvalues.clamp_min(0.0)[:, None] + n * torch.as_tensor(
                ridges, dtype=z.dtype, device=z.device
            )
            inverse = torch.where(shifted > 0, 1.0 / shifted, torch.zeros_like(shifted))
            predictions = (self._features(z_val) @ eigenvectors) @ (inverse * projected[:, None])
        scale = (y_val_t**2).mean().clamp_min(1e-300)
        errors = ((predictions - y_val_t[:, None]) ** 2).mean(dim=0) / scale
        return {ridge: float(error) for ridge, error in zip(ridges, errors, strict=True)}

    def predict(self, X):
        """f^L_W(X) of shape (n_samples,) as a numpy float64 array."""
        check_is_fitted(self, "W_")
        X = with_input_bias(check_matrix("X", X, self.n_features_in_), self.input_bias)
        z = torch.as_tensor(X, device=self.W_.device, dtype=self.W_.dtype)
        values = linear_term(z, self.W0_, self.a_, self.W_, self.activation)
        return values.cpu().numpy().astype(np.float64)
