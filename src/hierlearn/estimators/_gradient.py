"""Shared base of the gradient-trained two-layer estimators (quadratic model, real network).

Parameterisation. The trained movement W (m, D') is stored as W = c U with
c = m^{-1/4} D'^{-1/2}: a quadratic-model fit of unit-variance targets needs rows
||w_r|| ~ m^{-1/4} (Bai & Lee 2020), so U has entries of order one at a solution and ``lr`` and
``init_scale`` mean the same thing at every width m and input dimension D'. The objective is
unchanged; for plain gradient descent the reparameterisation is a constant step-size factor c^2.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import ClassVar

import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._random import child_seed, make_generator
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
from ..activations import TRAINABLE_ACTIVATIONS
from ..metrics import relative_error
from ..taylor import random_init, symmetric_init
from ._common import with_input_bias
from ._training import OPTIMIZERS, TrainingResult, TrainingSettings, train

POSITIVE_INT = Interval(Integral, 1, None, closed="left")


class GradientTwoLayerBase(RegressorMixin, BaseEstimator):
    """Common hyperparameters, validation and fit loop; subclasses define the objective.

    Validation data. ``fit(X, y, X_val=..., y_val=...)`` keeps the iterate with the smallest
    relative error on (X_val, y_val); without it, ``early_stopping=True`` holds out a
    ``validation_fraction`` of (X, y) instead (as ``MLPRegressor`` does). Inside a
    `sklearn.pipeline.Pipeline`, validation data reach the estimator through
    scikit-learn's metadata routing, transformed by the earlier steps::

        sklearn.set_config(enable_metadata_routing=True)
        model = QuadraticTaylorRegressor().set_fit_request(X_val=True, y_val=True)
        pipe = make_pipeline(RandomNetworkRepresentation(), model, transform_input=["X_val"])
        pipe.fit(X, y, X_val=X_val, y_val=y_val)

    (``transform_input`` makes the pipeline pass X_val through the fitted representation.)
    Routing rather than only an internal split, because a validation set of one's own must
    stay apart from the training set whose size n is being measured (the harness keeps 1,000
    validation labels beside n training labels); the internal split serves a standalone fit
    without validation data. Within ``GridSearchCV``, give X_val a length other than X's: a
    routed array of X's length is split with the folds.
    """

    _parameter_constraints: ClassVar[dict] = {
        "width": [POSITIVE_INT],
        "activation": [StrOptions(set(TRAINABLE_ACTIVATIONS))],
        "reg": [NON_NEGATIVE],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "epochs": [POSITIVE_INT],
        "batch_size": [POSITIVE_INT, None],
        "init_scale": [NON_NEGATIVE],
        "symmetric": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [POSITIVE_INT, None],
        "tol": [Interval(Real, 0, 1, closed="left")],
        "n_lr_decays": [Interval(Integral, 0, None, closed="left")],
        "lr_decay": [Interval(Real, 0, 1, closed="neither")],
        "eval_every": [POSITIVE_INT],
        "gd_noise": [NON_NEGATIVE],
        "input_bias": [NON_NEGATIVE],
        "device": DEVICE_CONSTRAINT,
        "dtype": [StrOptions(set(DTYPE_CONSTRAINT))],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __sklearn_tags__(self):
        return torch_tags(super().__sklearn_tags__(), self.device)

    def _check_params(self):
        """scikit-learn's parameter constraints, then the checks that involve several."""
        self._validate_params()
        if self.symmetric and self.width % 2:
            raise ValueError(
                f"width must be even with symmetric=True (neurons come in pairs), got {self.width}"
            )
        if self.batch_size is not None and self.optimizer == "lbfgs":
            raise ValueError("batch_size must be None with optimizer='lbfgs' (full batch)")
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
            n_lr_decays=self.n_lr_decays,
            lr_decay=self.lr_decay,
        )

    def fit(self, X, y, X_val=None, y_val=None):
        """Train W on (X, y).

        Args:
            X: (n_samples, D') inputs z (e.g. a whitened representation).
            y: (n_samples,) targets.
            X_val, y_val: optional validation data; the iterate with the smallest relative
                validation error is kept (``best_epoch_``). With ``early_stopping=True`` and no
                validation data, a ``validation_fraction`` of (X, y) is held out instead. In a
                pipeline they are routed metadata (see the class docstring).

        Raises:
            DivergenceError: the training loss became NaN/inf or exploded.
        """
        device, dtype = self._check_params()
        X, y = check_fit_data(self, X, y)
        generator = make_generator(self.random_state)
        if X_val is not None or y_val is not None:
            X_val, y_val = check_validation_data(self, X_val, y_val)
        elif self.early_stopping:
            n_val = max(1, round(self.validation_fraction * X.shape[0]))
            if n_val >= X.shape[0]:
                raise ValueError(
                    f"early_stopping needs at least 2 samples, got {X.shape[0]} sample(s)"
                )
            order = torch.randperm(X.shape[0], generator=generator).numpy()
            X_val, y_val = X[order[:n_val]], y[order[:n_val]]
            X, y = X[order[n_val:]], y[order[n_val:]]
        X = with_input_bias(X, self.input_bias)
        if X_val is not None:
            X_val = with_input_bias(X_val, self.input_bias)

        z = as_tensor(X, dtype, device)
        targets = as_tensor(y, dtype, device)
        params = self._initialise(X.shape[1], generator, dtype, device)
        objective = self._objective(z, targets)

        validate = None
        if X_val is not None:
            z_val = as_tensor(X_val, dtype, device)
            y_val_t = as_tensor(y_val, dtype, device)

            def validate(U):
                return relative_error(self._forward(z_val, self.scale_ * U), y_val_t)

        loop_generator = make_generator(child_seed(generator))
        result = train(objective, params, X.shape[0], self._settings(), loop_generator, validate)
        return self._record(result)

    def _initialise(self, n_features: int, generator, dtype, device) -> torch.Tensor:
        """Draw the fixed first layer and signs (``W0_``, ``a_``), set ``scale_``, and return
        the trained parameters' starting point; the one order of draws from ``generator``
        that every fit of this model (one by one or batched) follows."""
        init = symmetric_init if self.symmetric else random_init
        self.W0_, self.a_ = init(self.width, n_features, generator, dtype=dtype, device=device)
        self.scale_ = self.width**-0.25 / math.sqrt(n_features)
        return self.init_scale * torch.randn(
            self.width, n_features, generator=generator, dtype=torch.float64
        ).to(device=device, dtype=dtype)

    def _record(self, result: TrainingResult):
        """The fitted attributes from the training loop's result (``scale_`` already set)."""
        self.W_ = self.scale_ * result.params
        self.best_epoch_ = result.best_epoch
        self.n_epochs_ = self.n_iter_ = result.epochs_run
        self.converged_ = result.converged
        self.train_loss_ = result.best_train_loss
        self.loss_curve_ = result.train_loss
        self.validation_curve_ = result.validation_error
        self.validation_error_ = min(result.validation_error) if result.validation_error else None
        return self

    def _forward(self, z: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        return self._model(z, self.W0_, self.a_, W)

    def predict(self, X):
        """Predictions of shape (n_samples,) as a numpy float64 array.

        Evaluated in float64 whatever ``dtype`` (the parameters trained in float32 are cast):
        float32 matrix products round differently with the number of rows (the BLAS kernels
        block the sums by batch shape), and the signed sum over neurons amplifies that to
        about 1e-6, so a row alone and in a batch would differ; in float64 they agree to
        about 1e-13 relative.
        """
        check_is_fitted(self, "W_")
        X = with_input_bias(check_predict_data(self, X), self.input_bias)
        device, wide = self.W_.device, torch.float64
        z = as_tensor(X, wide, device)
        values = self._model(z, self.W0_.to(wide), self.a_.to(wide), self.W_.to(wide))
        return values.detach().cpu().numpy()
