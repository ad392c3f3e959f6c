"""Kernel ridge regression with the infinite-width kernels, direct or iterative.

The setting and the kernels' formulas: docs/theory.md §1 and :mod:`hierlearn.kernels`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
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
from ..kernels import blocks
from ..kernels.analytic import KINDS, InfiniteWidthKernel, as_representation
from ..linalg import NystromPreconditioner, conjugate_gradients, ridge_path, solve_psd, solve_psd_
from ._common import ridge_grid, with_input_bias

SOLVERS = ("auto", "cholesky", "iterative")
WORKSPACE_CAP = 256 * 2**20  # bytes of kernel-block working memory at most
EIGH_MATRICES = 4  # n x n matrices alive in torch.linalg.eigh (measured), the ridge path


def _workspace(budget: int, itemsize: int) -> int:
    """Bytes of the budget given to kernel blocks: a quarter, within [one block, the cap]."""
    return min(WORKSPACE_CAP, max(budget // 4, blocks.minimum_budget(itemsize)))


def _split_representation(representation):
    """(RepresentationSpec or None, centre flag) from the ``representation`` dict."""
    if representation is None:
        return None, False
    if not isinstance(representation, Mapping):
        raise ValueError(
            "representation must be None or a dict with keys 'activation', "
            f"'depth', 'bias_std', 'center', got {representation!r}"
        )
    options = dict(representation)
    center = options.pop("center", False)
    if not isinstance(center, bool | np.bool_):
        raise ValueError(f"representation['center'] must be True or False, got {center!r}")
    return as_representation(options), bool(center)


class KernelRegressor(RegressorMixin, BaseEstimator):
    """Kernel ridge regression with an infinite-width kernel of :mod:`hierlearn.kernels`.

    Solves, with ``ridge`` = r on the n training points (the convention of
    :mod:`hierlearn.linalg`),

    .. math::

        \\min_{f \\in H} \\frac1n \\sum_i (y_i - f(x_i))^2 + r \\|f\\|_H^2, \\qquad
        f = K(\\cdot, X)\\,\\alpha, \\quad \\alpha = (K + n r I)^{-1} y.

    Kernels (see :mod:`hierlearn.kernels.analytic` for the formulas and scalings):
    ``ntk`` E[act'(u) act'(u')] <x, x'>, ``nngp`` E[act(u) act(u')] and ``linear`` <x, x'>
    on raw inputs; with a ``representation`` the inner products become the representation's
    infinite-width kernel Sigma_L (the composed kernels are the width-D kernels divided by D).
    Hence, with the same ridge, ``kernel="ntk"`` equals a wide :class:`~hierlearn.NTKRegressor`
    on raw inputs, ``kernel="linear"`` equals ``sklearn.linear_model.Ridge(alpha=n r,
    fit_intercept=False)``, and NTK-h equals an ``NTKRegressor`` with ridge r * D on the
    un-normalised features h of a width-D representation, as D and the width m grow.

    Solvers: ``cholesky`` writes one triangle of K (n x n) and factorises it in place (peak
    memory about one n x n matrix); for a list of ridges it uses one eigendecomposition of K
    for the whole grid (about 4 n x n matrices, and much slower than a Cholesky on CPU).
    ``iterative`` runs preconditioned conjugate gradients with a Nystrom preconditioner of
    ``n_centers`` random centres, recomputing the kernel blocks at every iteration and never
    holding K; the ridges of a grid share the preconditioner and every kernel pass. ``auto``
    takes ``cholesky`` when it fits in ``memory_budget``.

    Args:
        kernel: "ntk", "nngp" or "linear".
        activation: trainable activation (relu, relu2, relu3, quadratic, tanh, softplus, gelu);
            ignored by ``linear``.
        representation: None (raw inputs) or a dict with keys ``activation`` (representation
            activation), ``depth`` (default 1), ``bias_std`` (default 0) and ``center``
            (default False: when True the features are centred by their mean over the
            training inputs' empirical law).
        ridge: r >= 0, or a list of values: then ``fit`` needs ``X_val, y_val`` and keeps the
            value with the smallest validation error.
        solver: "auto", "cholesky" or "iterative".
        memory_budget: bytes (int) or a string such as "4GiB" for the solver's matrices and
            kernel blocks (not counting the inputs).
        n_centers: Nystrom centres M of the iterative solver (capped by n and the budget).
        tol: relative residual at which conjugate gradients stop.
        max_iter: the most conjugate-gradient iterations.
        input_bias: when > 0 (raw inputs only), a constant coordinate of this value is
            appended to every x, as :class:`~hierlearn.NTKRegressor` does.
        device: "cpu" or "cuda".
        dtype: "float64" (default) or "float32".
        random_state: seed of the Nystrom centres.

    Attributes:
        X_fit_: (n, d) training inputs (torch tensor, with the input bias column if any).
        dual_coef_: (n,) tensor alpha.
        ridge_: the ridge used; validation_errors_: {ridge: relative validation error
            mean (f - y)^2 / mean y^2} when a list was given.
        converged_: False when conjugate gradients stopped at ``max_iter`` above ``tol``.
        solver_: "cholesky" or "iterative"; n_iter_: conjugate-gradient iterations (0 for
            cholesky).
    """

    def __init__(
        self,
        kernel: str = "ntk",
        activation: str = "relu",
        representation=None,
        ridge=1e-3,
        solver: str = "auto",
        memory_budget="4GiB",
        n_centers: int = 2000,
        tol: float = 1e-8,
        max_iter: int = 1000,
        input_bias: float = 0.0,
        device: str = "cpu",
        dtype: str = "float64",
        random_state=None,
    ):
        self.kernel = kernel
        self.activation = activation
        self.representation = representation
        self.ridge = ridge
        self.solver = solver
        self.memory_budget = memory_budget
        self.n_centers = n_centers
        self.tol = tol
        self.max_iter = max_iter
        self.input_bias = input_bias
        self.device = device
        self.dtype = dtype
        self.random_state = random_state

    def _kernel_object(self, budget: int, center=None, reference_mean=None):
        representation, _ = _split_representation(self.representation)
        return InfiniteWidthKernel(
            self.kernel,
            self.activation,
            representation,
            center,
            budget,
            self.dtype,
            self.device,
            reference_mean,
        )

    def _inputs(self, X, name: str, n_features: int | None = None) -> torch.Tensor:
        X = check_matrix(name, X, n_features)
        X = with_input_bias(X, float(self.input_bias))
        return torch.as_tensor(
            X, dtype=resolve_dtype(self.dtype), device=resolve_device(self.device)
        )

    def fit(self, X, y, X_val=None, y_val=None):
        """Fit alpha; with a list of ridges choose one on (X_val, y_val)."""
        check_choice("kernel", self.kernel, KINDS)
        check_choice("solver", self.solver, SOLVERS)
        representation, center = _split_representation(self.representation)
        ridges = ridge_grid(self.ridge)
        budget = blocks.parse_memory_budget(self.memory_budget)
        check_int("n_centers", self.n_centers, minimum=1)
        check_float("tol", self.tol, minimum=0.0, strict=True)
        check_int("max_iter", self.max_iter, minimum=1)
        check_float("input_bias", self.input_bias, minimum=0.0)
        if self.input_bias and representation is not None:
            raise ValueError(
                "input_bias applies to raw inputs only; with a representation use "
                "representation['bias_std']"
            )
        device, dtype = resolve_device(self.device), resolve_dtype(self.dtype)
        X_checked = check_matrix("X", X)
        y = check_targets("y", y, X_checked.shape[0])
        if len(ridges) > 1 and (X_val is None or y_val is None):
            raise ValueError("ridge is a list: pass X_val and y_val to fit to choose among them")
        self.n_features_in_ = X_checked.shape[1]
        inputs = self._inputs(X_checked, "X")
        targets = torch.as_tensor(y, dtype=dtype, device=device)
        n, itemsize = inputs.shape[0], dtype.itemsize
        blocks.block_entries(budget, itemsize)  # refuses a budget below one block
        workspace = _workspace(budget, itemsize)
        kernel = self._kernel_object(workspace, inputs if center else None)
        points = kernel.prepare(inputs)
        validation = None
        if len(ridges) > 1:
            val_inputs = self._inputs(X_val, "X_val", self.n_features_in_)
            y_val = check_targets("y_val", y_val, val_inputs.shape[0])
            validation = (
                kernel.prepare(val_inputs),
                torch.as_tensor(y_val, dtype=dtype, device=device),
            )
        n_val = 0 if validation is None else len(validation[0])
        matrices = EIGH_MATRICES if len(ridges) > 1 else 1
        direct_bytes = (matrices * n * n + n_val * n) * itemsize + workspace
        solver = self.solver
        if solver == "auto":
            solver = "cholesky" if direct_bytes <= budget else "iterative"
        if solver == "cholesky" and direct_bytes > budget:
            raise ValueError(
                f"memory_budget={self.memory_budget!r} is too small for the direct solve with "
                f"n={n} ({direct_bytes} bytes); use solver='iterative' or a larger budget"
            )
        # A direct solve is exact: 0 iterations, converged.
        self.n_iter_, self.converged_ = 0, True
        if solver == "cholesky":
            coefficients, predictions = self._direct(kernel, points, targets, ridges, validation)
        else:
            coefficients, predictions, self.n_iter_, self.converged_ = self._iterative(
                kernel, points, targets, ridges, validation, budget - workspace
            )
        if validation is None:
            self.ridge_, column = ridges[0], 0
        else:
            residuals = predictions - validation[1][:, None]
            scale = (validation[1] ** 2).mean().clamp_min(1e-300)
            errors = ((residuals**2).mean(0) / scale).tolist()
            self.validation_errors_ = dict(zip(ridges, errors, strict=True))
            column = int(np.argmin(errors))
            self.ridge_ = ridges[column]
        self.dual_coef_ = coefficients[:, column].contiguous()
        self.X_fit_ = inputs
        self.train_points_ = points
        self.reference_mean_ = kernel.reference_mean
        self.solver_ = solver
        return self

    def _direct(self, kernel, points, targets, ridges, validation):
        n = len(points)
        if validation is None:
            matrix = points.X.new_empty((n, n))
            kernel.matrix(points, out=matrix, upper_only=True)
            alpha = solve_psd_(matrix, targets, n * ridges[0])
            del matrix
            if alpha is None:  # not positive definite (ridge 0): eigenvalue pseudo-inverse
                alpha = solve_psd(kernel.matrix(points), targets, n * ridges[0])
            return alpha[:, None], None
        val_points, _ = validation
        path = ridge_path(kernel.matrix(points), targets, kernel.matrix(val_points, points), ridges)
        return path.coefficients, path.predictions

    def _iterative(self, kernel, points, targets, ridges, validation, budget):
        if min(ridges) <= 0:
            raise ValueError("ridge must be > 0 with solver='iterative'")
        n, itemsize = len(points), points.X.element_size()
        vectors = 8 * n * len(ridges) * itemsize  # CG's vectors
        centres = min(self.n_centers, n, max(0, (budget - vectors) // (2 * n * itemsize)))
        if centres < 1:
            raise ValueError(
                f"memory_budget={self.memory_budget!r} is too small for the "
                f"iterative solver with n={n}"
            )
        generator = make_generator(self.random_state)
        index = torch.randperm(n, generator=generator)[:centres].sort().values
        index = index.to(points.X.device)
        columns = kernel.matrix(points, points.take(index))
        preconditioner = NystromPreconditioner(columns, index)
        shifts = torch.as_tensor(
            [n * r for r in ridges], dtype=points.X.dtype, device=points.X.device
        )
        evaluate = kernel.evaluator(points, points)

        def matvec(vectors_):
            return blocks.symmetric_product(evaluate, n, vectors_, kernel.entries)

        rhs = targets[:, None].repeat(1, len(ridges))
        alphas, iterations, converged = conjugate_gradients(
            matvec, rhs, shifts, preconditioner.apply, self.tol, self.max_iter
        )
        if not converged:
            warnings.warn(
                f"conjugate gradients stopped after max_iter={self.max_iter} "
                f"iterations above tol={self.tol}",
                ConvergenceWarning,
                stacklevel=3,
            )
        predictions = None
        if validation is not None:
            val_points, _ = validation
            predictions = blocks.product(
                kernel.evaluator(val_points, points), len(val_points), n, alphas, kernel.entries
            )
        return alphas, predictions, iterations, bool(converged)

    def predict(self, X):
        """f(X) = K(X, X_fit) alpha of shape (n_samples,) as a numpy float64 array."""
        check_is_fitted(self, "dual_coef_")
        inputs = self._inputs(X, "X", self.n_features_in_)
        _, center = _split_representation(self.representation)
        workspace = _workspace(
            blocks.parse_memory_budget(self.memory_budget), self.X_fit_.element_size()
        )
        kernel = self._kernel_object(
            workspace, self.X_fit_ if center else None, self.reference_mean_
        )
        test_points = kernel.prepare(inputs)
        values = blocks.product(
            kernel.evaluator(test_points, self.train_points_),
            len(test_points),
            len(self.train_points_),
            self.dual_coef_[:, None],
            kernel.entries,
        )[:, 0]
        return values.cpu().numpy().astype(np.float64)
