"""The linearised (NTK) two-layer network, fitted exactly by ridge regression.

The model f^L_W is that of docs/theory.md §1.
"""

from __future__ import annotations

import math
from numbers import Integral
from typing import ClassVar

import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._random import make_generator
from .._validation import (
    DEVICE_CONSTRAINT,
    DTYPE_CONSTRAINT,
    NON_NEGATIVE,
    RANDOM_STATE_CONSTRAINT,
    as_tensor,
    check_fit_data,
    check_predict_data,
    check_validation_data,
    resolve_device,
    resolve_dtype,
    torch_tags,
)
from ..activations import TRAINABLE_ACTIVATIONS, trainable_activation
from ..kernels.empirical import empirical_ntk
from ..linalg import ridge_path, solve_psd
from ..metrics import relative_errors
from ..taylor import linear_term, random_init, symmetric_init
from ._common import ridge_grid, with_input_bias

SOLVERS = ("auto", "dual", "primal")


class NTKRegressor(RegressorMixin, BaseEstimator):
    """Ridge regression on the linear (NTK) term f^L_W of a random two-layer network.

    Solves exactly

    $$
    \\min_W \\frac1n \\sum_i (y_i - f^L_W(z_i))^2 + r \\|W\\|_F^2, \\qquad
    f^L_W(z) = \\frac{1}{\\sqrt m} \\sum_r a_r\\, act'(w_{0,r}\\cdot z)\\,(w_r\\cdot z),
    $$

    with ``ridge`` = r. f^L_W(z) = <W, phi(z)> with phi(z)_r = a_r act'(w_{0,r}.z) z / sqrt(m),
    whose kernel is the empirical NTK

        K(z, z') = (1/m) sum_r act'(w_{0,r}.z) act'(w_{0,r}.z') <z, z'>,

    the finite-width version of [`hierlearn.kernels.ntk`][]. The ``dual`` solver computes
    alpha = (K + n r I)^{-1} y and W = sum_i alpha_i phi(z_i) (one n x n solve, float64 by
    default); the ``primal`` one solves (Phi^T Phi + n r I) vec W = Phi^T y (an mD' x mD'
    solve); ``auto`` picks the smaller.

    Args:
        width: m, the number of neurons (even with ``symmetric``).
        activation: trainable activation whose act' enters f^L (default relu, act' = step).
        ridge: r >= 0, or a list of values: then ``fit`` needs ``X_val, y_val`` and keeps the
            value with the smallest validation error, reusing one eigendecomposition (in a
            pipeline, route them with ``set_fit_request(X_val=True, y_val=True)`` and
            ``transform_input=["X_val"]``; see
            [`QuadraticTaylorRegressor`][hierlearn.QuadraticTaylorRegressor]).
        solver: "auto", "dual" or "primal".
        symmetric: symmetric initialisation (neurons in pairs with opposite a_r).
        input_bias: when > 0 (default 1.0), a constant coordinate of this value is appended to
            every z: a first-layer bias, without which f^L with a relu is homogeneous of
            degree one in z (see `hierlearn.estimators._common.with_input_bias`).
            ``input_bias=0`` is the paper's exact bias-free model f^L_W.
        device: "cpu" or "cuda".
        dtype: "float64" (default) or "float32".
        random_state: seed of W0 and a.

    Attributes:
        W0_: the random first-layer weights (m, D').
        a_: the output signs (m,).
        W_: the fitted movement (m, D').
        ridge_: the ridge used.
        validation_errors_: {ridge: relative validation error} when a list was given.
    """

    def __init__(
        self,
        width: int = 1024,
        *,
        activation: str = "relu",
        ridge=1e-3,
        solver: str = "auto",
        symmetric: bool = True,
        input_bias: float = 1.0,
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

    _parameter_constraints: ClassVar[dict] = {
        "width": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(TRAINABLE_ACTIVATIONS))],
        "ridge": [NON_NEGATIVE, "array-like"],
        "solver": [StrOptions(set(SOLVERS))],
        "symmetric": ["boolean"],
        "input_bias": [NON_NEGATIVE],
        "device": DEVICE_CONSTRAINT,
        "dtype": [StrOptions(set(DTYPE_CONSTRAINT))],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __sklearn_tags__(self):
        return torch_tags(super().__sklearn_tags__(), self.device)

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
        self._validate_params()
        if self.symmetric and self.width % 2:
            raise ValueError(f"width must be even with symmetric=True, got {self.width}")
        ridges = ridge_grid(self.ridge)
        device, dtype = resolve_device(self.device), resolve_dtype(self.dtype)
        X, y = check_fit_data(self, X, y)
        if X_val is not None or y_val is not None:  # checked even when unused (one ridge)
            X_val, y_val = check_validation_data(self, X_val, y_val)
        elif len(ridges) > 1:
            raise ValueError("ridge is a list: pass X_val and y_val to fit to choose among them")
        X = with_input_bias(X, self.input_bias)
        n, dim = X.shape
        generator = make_generator(self.random_state)
        init = symmetric_init if self.symmetric else random_init
        self.W0_, self.a_ = init(self.width, dim, generator, dtype=dtype, device=device)
        z = as_tensor(X, dtype, device)
        targets = as_tensor(y, dtype, device)
        solver = self.solver
        if solver == "auto":
            solver = "dual" if n <= self.width * dim else "primal"
        gram = self._kernel(z) if solver == "dual" else None
        if len(ridges) > 1:
            X_val = with_input_bias(X_val, self.input_bias)
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
        z_val = as_tensor(X_val, z.dtype, z.device)
        y_val_t = as_tensor(y_val, z.dtype, z.device)
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
        errors = relative_errors(predictions, y_val_t)
        return dict(zip(ridges, errors, strict=True))

    def predict(self, X):
        """f^L_W(X) of shape (n_samples,) as a numpy float64 array.

        Evaluated in float64 whatever ``dtype``, so that a row predicts the same value alone
        or in any batch (float32 products round differently with the number of rows).
        """
        check_is_fitted(self, "W_")
        X = with_input_bias(check_predict_data(self, X), self.input_bias)
        wide = torch.float64
        z = as_tensor(X, wide, self.W_.device)
        values = linear_term(
            z, self.W0_.to(wide), self.a_.to(wide), self.W_.to(wide), self.activation
        )
        return values.cpu().numpy()
