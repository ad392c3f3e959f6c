"""The quadratic Taylor model of a wide two-layer network (Bai & Lee 2020; docs/theory.md §1)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from ..activations import trainable_activation
from ..taylor import quadratic_term
from ._gradient import GradientTwoLayerBase


class QuadraticTaylorRegressor(GradientTwoLayerBase):
    """Least squares on the quadratic term f^Q_W of a two-layer network, W trained.

    Minimises over the movement W in R^{m x D'}

    $$
    L(W) = \\frac1n \\sum_i (y_i - f^Q_W(z_i))^2 + \\lambda \\|W\\|_{2,4}^8,
    \\qquad f^Q_W(z) = \\frac{1}{2\\sqrt m} \\sum_r a_r\\, act''(w_{0,r}\\cdot z)\\,
    (w_r \\cdot z)^2,
    $$

    with ``reg`` = lambda and ||W||_{2,4} = (sum_r ||w_r||^4)^{1/4} (arXiv 2006.13436 eq. (4)).
    With ``randomized=True`` the loss is Bai & Lee's random-sign objective in closed form, which
    adds (1/n) sum_i (1/m) sum_r act'(w_{0,r}.z_i)^2 (w_r.z_i)^2 (see
    [`hierlearn.taylor.quadratic_loss`][]).

    Speed: act''(w_{0,r}.z_i) (times a_r) does not change during training, so it is computed
    once per data set; a gradient step then costs two matrix products of shapes (n, D') x (D', m)
    and (m, n) x (n, D') plus elementwise work on (n, m).

    Args:
        width: m, the number of neurons (even with ``symmetric``).
        activation: trainable activation whose act'' enters f^Q (default relu2, act'' =
            indicator; relu has act'' = 0 and cannot be used).
        reg: lambda >= 0 of the ||W||_{2,4}^8 penalty.
        randomized: use the random-sign objective.
        optimizer: "adam", "gd" (plus ``gd_noise``) or "lbfgs".
        lr: step size on U, where W = m^{-1/4} D'^{-1/2} U (see the base module docstring).
        epochs: passes over the data (L-BFGS: iterations).
        batch_size: mini-batch size; None for full batch.
        init_scale: U starts at init_scale * N(0, 1) entries (f^Q has zero gradient at W = 0).
        symmetric: symmetric initialisation (f_{W0} = 0), else independent neurons.
        early_stopping: hold out ``validation_fraction`` of the data when no validation set is
            passed to ``fit``, and keep the best iterate. A separate validation set is passed
            as ``fit(X, y, X_val=..., y_val=...)``, in a pipeline by metadata routing (see
            the base class `GradientTwoLayerBase`).
        validation_fraction: share held out by ``early_stopping``.
        n_iter_no_change: k of the plateau rule: stop once the best validation error has
            fallen by less than a relative ``tol`` over the last k evaluations
            (``converged_`` is then True).
        tol: the relative margin of the plateau rule (0: k evaluations without a new best).
        n_lr_decays: the first ``n_lr_decays`` plateaus multiply lr by ``lr_decay`` and
            training goes on; the next one stops it (0: the first plateau stops).
        lr_decay: the factor of those step-size decays, in (0, 1).
        eval_every: epochs between validation evaluations.
        gd_noise: standard deviation of the noise added to each "gd" update of U.
        input_bias: when > 0 (default 1.0), a constant coordinate of this value is appended to
            every z: a first-layer bias, without which f^Q is a homogeneous quadratic in z
            (see `hierlearn.estimators._common.with_input_bias`). ``input_bias=0`` is
            the paper's exact bias-free model (arXiv 2006.13436 eq. (4)).
        device: "cpu" or "cuda".
        dtype: "float32" (default, fast) or "float64".
        random_state: seed of W0, a, the initial W and the mini-batch order.

    Attributes:
        W0_: the initial weights (m, D'), a torch tensor.
        a_: the output signs (m,), a torch tensor.
        W_: the learned movement (m, D') at the best iterate.
        best_epoch_: the epoch of the kept iterate.
        n_epochs_: epochs run (also ``n_iter_``).
        loss_curve_: the training loss of every epoch.
        validation_curve_: the relative validation error at every evaluation.
        validation_error_: the relative validation error of the kept iterate.
        train_loss_: the training loss at the kept iterate.
        converged_: whether the plateau rule stopped training before ``epochs``.
    """

    def __init__(
        self,
        width: int = 1024,
        *,
        activation: str = "relu2",
        reg: float = 0.0,
        randomized: bool = False,
        optimizer: str = "adam",
        lr: float = 0.01,
        epochs: int = 500,
        batch_size: int | None = None,
        init_scale: float = 0.1,
        symmetric: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int | None = None,
        tol: float = 0.0,
        n_lr_decays: int = 0,
        lr_decay: float = 0.2,
        eval_every: int = 1,
        gd_noise: float = 0.0,
        input_bias: float = 1.0,
        device: str = "cpu",
        dtype: str = "float32",
        random_state=None,
    ):
        self.width = width
        self.activation = activation
        self.reg = reg
        self.randomized = randomized
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.init_scale = init_scale
        self.symmetric = symmetric
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.n_lr_decays = n_lr_decays
        self.lr_decay = lr_decay
        self.eval_every = eval_every
        self.gd_noise = gd_noise
        self.input_bias = input_bias
        self.device = device
        self.dtype = dtype
        self.random_state = random_state

    _parameter_constraints: ClassVar[dict] = {
        **GradientTwoLayerBase._parameter_constraints,
        "randomized": ["boolean"],
    }

    def _check_params(self):
        resolved = super()._check_params()
        if trainable_activation(self.activation).name == "relu":
            raise ValueError(
                "activation='relu' has act'' = 0, so its quadratic term is identically zero; "
                "accepted for QuadraticTaylorRegressor: relu2, relu3, quadratic, tanh, "
                "softplus, gelu"
            )
        return resolved

    def _model(self, z, W0, a, W) -> torch.Tensor:
        return quadratic_term(z, W0, a, W, self.activation)

    def _objective(self, z: torch.Tensor, y: torch.Tensor):
        activation = trainable_activation(self.activation)
        m, scale, reg = self.width, self.scale_, self.reg
        preactivation = z @ self.W0_.T
        # Cached once per data set: a_r act''(w0_r . z_i), and act'(w0_r . z_i)^2 if randomized.
        signed_curvature = activation.d2(preactivation) * self.a_
        slope_sq = activation.d1(preactivation) ** 2 if self.randomized else None
        del preactivation
        half_inv_sqrt_m = 0.5 / math.sqrt(m)

        def objective(U: torch.Tensor, rows):
            zb, yb = (z, y) if rows is None else (z[rows], y[rows])
            curvature = signed_curvature if rows is None else signed_curvature[rows]
            projection = zb @ U.T  # (n, m): u_r . z_i, so w_r . z_i = scale * projection
            projection.mul_(scale)
            weighted = curvature * projection  # a_r act'' (w_r . z_i)
            residual = half_inv_sqrt_m * (weighted * projection).sum(dim=1) - yb
            n = zb.shape[0]
            loss = (residual * residual).mean()
            # dL/dW = (2/n) G^T z with G_ir = residual_i a_r act''_ir (w_r.z_i) / sqrt(m) + ...
            weighted.mul_(residual.unsqueeze(1) * (2.0 * half_inv_sqrt_m))
            if slope_sq is not None:
                slopes = slope_sq if rows is None else slope_sq[rows]
                randomized_parts = slopes * projection
                loss = loss + (randomized_parts * projection).sum() / (n * m)
                weighted.add_(randomized_parts, alpha=1.0 / m)
            grad = weighted.T @ zb
            grad.mul_(2.0 * scale / n)
            if reg > 0:
                W = scale * U
                row_sq = (W * W).sum(dim=1)
                fourth = (row_sq * row_sq).sum()
                loss = loss + reg * fourth * fourth
                # d/dW (sum_r |w_r|^4)^2 = 2 S * 4 |w_r|^2 w_r
                grad.add_(W * (8.0 * reg * fourth * row_sq).unsqueeze(1), alpha=scale)
            return loss, grad

        return objective
