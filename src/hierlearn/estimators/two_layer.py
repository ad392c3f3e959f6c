"""The real two-layer network f_{W0+W}, first layer trained (docs/theory.md, section 1)."""

from __future__ import annotations

import torch

from ..taylor import network_output
from ._gradient import GradientTwoLayerBase


class TwoLayerRegressor(GradientTwoLayerBase):
    """A finite two-layer network whose first-layer movement W is trained.

    Minimises over W in R^{m x D'}

    $$
    L(W) = \\frac1n \\sum_i (y_i - f_{W_0+W}(z_i))^2 + \\lambda \\|W\\|_F^2,
    \\qquad f_{W_0+W}(z) = \\frac{1}{\\sqrt m} \\sum_r a_r\\, act((w_{0,r} + w_r)\\cdot z),
    $$

    with ``reg`` = lambda; the output signs a_r stay fixed. Gradients by autograd. The
    arguments are those of [`QuadraticTaylorRegressor`][hierlearn.QuadraticTaylorRegressor] (without
    ``randomized``); ``init_scale`` defaults to 0 because the real network has a non-zero
    gradient at W = 0. ``input_bias`` defaults to 1.0 (a first-layer bias; without it the
    relu network is homogeneous of degree one in z); ``input_bias=0`` is the bias-free
    network f_{W0+W} of docs/theory.md §1. Validation data as for
    [`QuadraticTaylorRegressor`][hierlearn.QuadraticTaylorRegressor] (``fit(X, y, X_val=...,
    y_val=...)``, routed
    through a pipeline with ``set_fit_request``).

    Args:
        width: m, the number of neurons (even with ``symmetric``).
        activation: trainable activation act of the network (default relu).
        reg: lambda >= 0 of the ||W||_F^2 penalty.
        init_scale: W starts at init_scale * N(0, 1) entries (default 0: the network at W0).
        input_bias: when > 0 (default 1.0), a constant coordinate of this value is appended to
            every z (a first-layer bias); ``input_bias=0`` is the bias-free network.
    """

    def __init__(
        self,
        width: int = 1024,
        *,
        activation: str = "relu",
        reg: float = 0.0,
        optimizer: str = "adam",
        lr: float = 0.01,
        epochs: int = 500,
        batch_size: int | None = None,
        init_scale: float = 0.0,
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

    def _model(self, z, W0, a, W) -> torch.Tensor:
        return network_output(z, W0, a, W, self.activation)

    def _objective(self, z: torch.Tensor, y: torch.Tensor):
        scale, reg = self.scale_, self.reg

        def objective(U: torch.Tensor, rows):
            zb, yb = (z, y) if rows is None else (z[rows], y[rows])
            with torch.enable_grad():
                leaf = U.detach().requires_grad_(True)
                W = scale * leaf
                residual = self._forward(zb, W) - yb
                loss = (residual * residual).mean()
                if reg > 0:
                    loss = loss + reg * (W * W).sum()
                (grad,) = torch.autograd.grad(loss, leaf)
            return loss.detach(), grad

        return objective
