"""Shared base of the gradient-trained two-layer estimators (quadratic model, real network).

Parameterisation. The trained movement W (m, D') is stored as W = c U with
c = m^{-1/4} D'^{-1/2}: a quadratic-model fit of unit-variance targets needs rows
||w_r|| ~ m^{-1/4} (Bai & Lee 2020), so U has entries of order one at a solution and ``lr`` and
``init_scale`` mean the same thing at every width m and input dimension D'. The objective is
unchanged; for plain gradient descent the reparameterisation is a constant step-size factor c^2.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._random import child_seed, make_generator
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
from ..taylor import random_init, symmetric_init
from ._common import relative_error, with_input_bias
from ._training import OPTIMIZERS, TrainingSettings, train


class GradientTwoLayerBase(RegressorMixin, BaseEstimator):
    """Common hyperparameters, validation and fit loop; subclasses define the objective."""

    def _check_params(self):
        check_int("width", self.width, minimum=1)
        if self.symmetric and self.width % 2:
            raise ValueError(
                f"width must be even with symmetric=True (neurons come in pairs), got {self.width}"
            )
        trainable_activation(self.activation)
        check_float("reg", self.reg, minimum=0.0)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_float("lr", self.lr, minimum=0.0, strict=True)
        check_int("epochs", self.epochs, minimum=1)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, minimum=1)
            if self.optimizer == "lbfgs":
                raise ValueError("batch_size must be None with optimizer='lbfgs' (full batch)")
        check_float("init_scale", self.init_scale, minimum=0.0)
        check_float("validation_fraction", self.validation_fraction, minimum=0.0)
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction}"
            )
        if self.n_iter_no_change is not None:
            check_int("n_iter_no_change", self.n_iter_no_change, minimum=1)
        check_float("tol", self.tol, minimum=0.0)
        if self.tol >= 1.0:
            raise ValueError(f"tol must be in [0, 1), got {self.tol}")
        check_int("eval_every", self.eval_every, minimum=1)
        check_float("gd_noise", self.gd_noise, minimum=0.0)
        check_float("input_bias", self.input_bias, minimum=0.0)
        return resolve_device(self.device), resolve_dtype(self.dtype)

    def _settings(self) -> TrainingSettings:
        return TrainingSettings(
            optimizer=self.optimizer,
            lr=self.lr,
            epochs=self.epochs,
            batch_size=self.batch_size,
            gd_noise=self.gd_noise,
            eval_every=self.eval_every,
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
        )

    def fit(self, X, y, X_val=None, y_val=None):
        """Train W on (X, y).

        Args:
            X: (n_samples, D') inputs z (e.g. a whitened representation).
            y: (n_samples,) targets.
            X_val, y_val: optional validation data; the iterate with the smallest relative
                validation error is kept (``best_epoch_``). With ``early_stopping=True`` and no
                validation data, a ``validation_fraction`` of (X, y) is held out instead.

        Raises:
            DivergenceError: the training loss became NaN/inf or exploded.
        """
        device, dtype = self._check_params()
        X = check_matrix("X", X)
        y = check_targets("y", y, X.shape[0])
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        generator = make_generator(self.random_state)
        if X_val is not None:
            X_val = check_matrix("X_val", X_val, X.shape[1])
            y_val = check_targets("y_val", y_val, X_val.shape[0])
        elif self.early_stopping:
            n_val = max(1, round(self.validation_fraction * X.shape[0]))
            if n_val >= X.shape[0]:
                raise ValueError("early_stopping needs at least 2 samples")
            order = torch.randperm(X.shape[0], generator=generator).numpy()
            X_val, y_val = X[order[:n_val]], y[order[:n_val]]
            X, y = X[order[n_val:]], y[order[n_val:]]
        self.n_features_in_ = X.shape[1]
        X = with_input_bias(X, self.input_bias)
        if X_val is not None:
            X_val = with_input_bias(X_val, self.input_bias)

        z = torch.as_tensor(X, device=device, dtype=dtype)
        targets = torch.as_tensor(y, device=device, dtype=dtype)
        init = symmetric_init if self.symmetric else random_init
        self.W0_, self.a_ = init(self.width, X.shape[1], generator, dtype=dtype, device=device)
        self.scale_ = self.width**-0.25 / math.sqrt(X.shape[1])
        params = self.init_scale * torch.randn(
            self.width, X.shape[1], generator=generator, dtype=torch.float64
        ).to(device=device, dtype=dtype)
        objective = self._objective(z, targets)

        validate = None
        if X_val is not None:
            z_val = torch.as_tensor(X_val, device=device, dtype=dtype)
            y_val_t = torch.as_tensor(y_val, device=device, dtype=dtype)

            def validate(U):
                return relative_error(self._forward(z_val, self.scale_ * U), y_val_t)

        loop_generator = make_generator(child_seed(generator))
        result = train(objective, params, X.shape[0], self._settings(), loop_generator, validate)
        self.W_ = self.scale_ * result.params
        self.best_epoch_ = result.best_epoch
        self.n_epochs_ = self.n_iter_ = result.epochs_run
        self.converged_ = result.converged
        self.train_loss_ = result.best_train_loss
        self.loss_curve_ = result.train_loss
        self.validation_curve_ = result.validation_error
        self.validation_error_ = min(result.validation_error) if result.validation_error else None
        return self

    def predict(self, X):
        """Predictions of shape (n_samples,) as a numpy float64 array."""
        check_is_fitted(self, "W_")
        X = with_input_bias(check_matrix("X", X, self.n_features_in_), self.input_bias)
        z = torch.as_tensor(X, device=self.W_.device, dtype=self.W_.dtype)
        return self._forward(z, self.W_).detach().cpu().numpy().astype(np.float64)
