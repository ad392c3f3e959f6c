"""Kernel ridge regression with the infinite-width kernels, direct or iterative.

The setting and the kernels' formulas: docs/theory.md §1 and [`hierlearn.kernels`][].
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
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
from ..activations import TRAINABLE_ACTIVATIONS
from ..kernels import blocks
from ..kernels.analytic import KINDS, InfiniteWidthKernel, as_representation
from ..linalg import NystromPreconditioner, conjugate_gradients, ridge_path, solve_psd, solve_psd_
from ..metrics import relative_errors
from ._common import ridge_grid, with_input_bias

SOLVERS = ("auto", "cholesky", "iterative")
WORKSPACE_CAP = 256 * 2**20  # bytes of kernel-block working memory at most
EIGH_MATRICES = 4  # n x n matrices alive in torch.linalg.eigh (measured), the ridge path
_CHUNK = 8192  # rows of the Nystrom factor solved at once
# Above this many training points, ``solver="auto"`` takes the iterative solver for a grid of
# ridges even where the direct path fits the memory budget. Measured on 2 CPU threads with the
# presets' grid (1e-10 ... 1e-2), relu NTK on raw x, d = 8, fit with validation predictions:
# iterative / direct time 1.42 at n = 11,264 and 0.96 at 16,384 (crossing near 15,700);
# 3.10 at 4,096 and 1.58 at 8,192 before the grouped ridge path, which is faster still.
AUTO_ITERATIVE_N = 15_000


def _workspace(budget: int, itemsize: int) -> int:
    """Bytes of the budget given to kernel blocks: a quarter, within [one block, the cap]."""
    return min(WORKSPACE_CAP, max(budget // 4, blocks.minimum_budget(itemsize)))


def _split_representation(representation, center: bool) -> tuple:
    """(RepresentationSpec or None, center flag) from ``representation`` and ``center``.

    The representation dict takes the keys of [`hierlearn.kernels.ntk`][]'s
    ``representation`` (activation, depth, bias_std); centring is the estimator's own
    ``center`` parameter.
    """
    if representation is None:
        return None, bool(center)
    if not isinstance(representation, Mapping):
        raise ValueError(
            "representation must be None or a dict with keys 'activation', "
            f"'depth', 'bias_std', got {representation!r}"
        )
    options = dict(representation)
    if "center" in options:
        raise ValueError(
            "representation has no 'center' key: centring is KernelRegressor(center=True)"
        )
    return as_representation(options), bool(center)


def resolve_input_bias(input_bias, with_representation: bool) -> float:
    """The kernel's input bias: ``"auto"`` is 1.0 on raw inputs and 0 with a representation
    (whose biases, ``bias_std``, play that part); a number is itself."""
    if input_bias == "auto":
        return 0.0 if with_representation else 1.0
    return float(input_bias)


class KernelRegressor(RegressorMixin, BaseEstimator):
    """Kernel ridge regression with an infinite-width kernel of [`hierlearn.kernels`][].

    Solves, with ``ridge`` = r on the n training points (the convention of
    `hierlearn.linalg`),

    $$
    \\min_{f \\in H} \\frac1n \\sum_i (y_i - f(x_i))^2 + r \\|f\\|_H^2, \\qquad
    f = K(\\cdot, X)\\,\\alpha, \\quad \\alpha = (K + n r I)^{-1} y.
    $$

    Kernels (see `hierlearn.kernels.analytic` for the formulas and scalings):
    ``ntk`` E[act'(u) act'(u')] <x, x'>, ``nngp`` E[act(u) act(u')] and ``linear`` <x, x'>
    on raw inputs; with a ``representation`` the inner products become the representation's
    infinite-width kernel Sigma_L (the composed kernels are the width-D kernels divided by D).
    Hence, with the same ridge, ``kernel="ntk"`` equals a wide
    [`NTKRegressor`][hierlearn.NTKRegressor]
    on raw inputs, ``kernel="linear"`` equals ``sklearn.linear_model.Ridge(alpha=n r,
    fit_intercept=False)``, and NTK-h equals an ``NTKRegressor`` with ridge r * D on the
    un-normalised features h of a width-D representation, as D and the width m grow.

    Solvers: ``cholesky`` writes one triangle of K (n x n) and factorises it in place (peak
    memory about one n x n matrix); for a list of ridges, `hierlearn.linalg.ridge_path`: one
    factorisation per group of ridges within a factor 100, the group's other ridges by Lanczos
    from it (two n x n matrices; the memory check reserves four, for the eigendecomposition
    that it falls back to on a matrix that is not numerically positive definite).
    ``iterative`` runs preconditioned conjugate gradients with a Nystrom preconditioner of
    ``n_centers`` random centres, never holding K: the kernel blocks that the budget leaves
    room for are kept between iterations (a `BlockCache`),
    the others recomputed at every iteration; the ridges of a grid share the preconditioner
    and every kernel pass. ``auto`` takes ``cholesky`` when it fits in ``memory_budget`` and,
    for a list of ridges, n <= ``AUTO_ITERATIVE_N`` (15,000: where the iterative solver became
    faster on 2 CPU threads with the presets' grid; benchmarks/README.md).

    Args:
        kernel: "ntk", "nngp" or "linear".
        activation: trainable activation (relu, relu2, relu3, quadratic, tanh, softplus, gelu);
            ignored by ``linear``.
        representation: None (raw inputs) or a dict with keys ``activation`` (representation
            activation), ``depth`` (default 1) and ``bias_std`` (default 0), as the
            ``representation`` argument of [`hierlearn.kernels.ntk`][].
        center: with a representation, centre its features by their mean over the training
            inputs' empirical law ([`hierlearn.kernels.ntk`][]'s ``center`` argument with the
            training inputs as reference).
        ridge: r >= 0, or a list of values: then ``fit`` needs ``X_val, y_val`` and keeps the
            value with the smallest validation error (in a pipeline, route them with
            ``set_fit_request(X_val=True, y_val=True)`` and ``transform_input=["X_val"]``;
            see [`QuadraticTaylorRegressor`][hierlearn.QuadraticTaylorRegressor]).
        solver: "auto", "cholesky" or "iterative".
        memory_budget: bytes (int) or a string such as "4GiB" for the solver's matrices and
            kernel blocks (not counting the inputs).
        n_centers: Nystrom centres M of the iterative solver (capped by n and the budget).
        tol: relative residual at which conjugate gradients stop.
        max_iter: the most conjugate-gradient iterations.
        input_bias: "auto" (default: 1.0 on raw inputs, 0 with a representation, whose
            ``bias_std`` plays that part) or a number >= 0: when > 0 (raw inputs only), a
            constant coordinate of this value is appended to every x, as
            [`NTKRegressor`][hierlearn.NTKRegressor] does. Without it the relu NTK on raw x is
            homogeneous of degree one; ``input_bias=0`` is the paper's bias-free kernel.
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
        representation_, center_, input_bias_: the representation, centring and input bias
            in use (``input_bias="auto"`` resolved).
    """

    def __init__(
        self,
        kernel: str = "ntk",
        *,
        activation: str = "relu",
        representation=None,
        center: bool = False,
        ridge=1e-3,
        solver: str = "auto",
        memory_budget="4GiB",
        n_centers: int = 2000,
        tol: float = 1e-8,
        max_iter: int = 1000,
        input_bias="auto",
        device: str = "cpu",
        dtype: str = "float64",
        random_state=None,
    ):
        self.kernel = kernel
        self.activation = activation
        self.representation = representation
        self.center = center
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

    _parameter_constraints: ClassVar[dict] = {
        "kernel": [StrOptions(set(KINDS))],
        "activation": [StrOptions(set(TRAINABLE_ACTIVATIONS))],
        "representation": [None, dict],
        "center": ["boolean"],
        "ridge": [NON_NEGATIVE, "array-like"],
        "solver": [StrOptions(set(SOLVERS))],
        "memory_budget": [Interval(Integral, 1, None, closed="left"), str],
        "n_centers": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "input_bias": [StrOptions({"auto"}), NON_NEGATIVE],
        "device": DEVICE_CONSTRAINT,
        "dtype": [StrOptions(set(DTYPE_CONSTRAINT))],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __sklearn_tags__(self):
        return torch_tags(super().__sklearn_tags__(), self.device)

    def _input_bias(self, representation) -> float:
        """The input bias in use (`resolve_input_bias`)."""
        return resolve_input_bias(self.input_bias, representation is not None)

    def _kernel_object(self, budget: int, center=None, reference_mean=None, dtype=None):
        return InfiniteWidthKernel(
            self.kernel,
            self.activation,
            self.representation_,
            center,
            budget,
            self.dtype if dtype is None else dtype,
            self.device,
            reference_mean,
        )

    def _inputs(self, X: np.ndarray, dtype=None) -> torch.Tensor:
        """Checked inputs as a tensor in the kernel's dtype, with the input bias column."""
        X = with_input_bias(X, self.input_bias_)
        dtype = resolve_dtype(self.dtype if dtype is None else dtype)
        return as_tensor(X, dtype, resolve_device(self.device))

    def _prediction_kernel(self):
        """(kernel, training points) in float64, for ``predict`` (see there)."""
        workspace = _workspace(blocks.parse_memory_budget(self.memory_budget), 8)
        if self.X_fit_.dtype == torch.float64:
            inputs, points, mean = self.X_fit_, self.train_points_, self.reference_mean_
        else:
            inputs = self.X_fit_.to(torch.float64)
            points, mean = self._float64_points, self._float64_reference_mean
        kernel = self._kernel_object(workspace, inputs if self.center_ else None, mean, "float64")
        return kernel, points

    def fit(self, X, y, X_val=None, y_val=None):
        """Fit alpha; with a list of ridges choose one on (X_val, y_val)."""
        self._validate_params()
        representation, center = _split_representation(self.representation, self.center)
        ridges = ridge_grid(self.ridge)
        budget = blocks.parse_memory_budget(self.memory_budget)
        input_bias = self._input_bias(representation)
        if input_bias and representation is not None:
            raise ValueError(
                "input_bias applies to raw inputs only; with a representation use "
                "representation['bias_std']"
            )
        if center and representation is None:
            raise ValueError("center needs a representation: raw inputs are not centred")
        self.representation_, self.center_, self.input_bias_ = representation, center, input_bias
        device, dtype = resolve_device(self.device), resolve_dtype(self.dtype)
        X, y = check_fit_data(self, X, y)
        if X_val is not None or y_val is not None:  # checked even when unused (one ridge)
            X_val, y_val = check_validation_data(self, X_val, y_val)
        elif len(ridges) > 1:
            raise ValueError("ridge is a list: pass X_val and y_val to fit to choose among them")
        inputs = self._inputs(X)
        targets = as_tensor(y, dtype, device)
        n, itemsize = inputs.shape[0], dtype.itemsize
        blocks.block_entries(budget, itemsize)  # refuses a budget below one block
        workspace = _workspace(budget, itemsize)
        kernel = self._kernel_object(workspace, inputs if center else None)
        points = kernel.prepare(inputs)
        validation = None
        if len(ridges) > 1:
            validation = (kernel.prepare(self._inputs(X_val)), as_tensor(y_val, dtype, device))
        n_val = 0 if validation is None else len(validation[0])
        matrices = EIGH_MATRICES if len(ridges) > 1 else 1
        direct_bytes = (matrices * n * n + n_val * n) * itemsize + workspace
        solver = self.solver
        if solver == "auto":
            fits = direct_bytes <= budget
            faster = len(ridges) == 1 or n <= AUTO_ITERATIVE_N
            solver = "cholesky" if fits and faster else "iterative"
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
            errors = relative_errors(predictions, validation[1])
            self.validation_errors_ = dict(zip(ridges, errors, strict=True))
            column = int(np.argmin(errors))
            self.ridge_ = ridges[column]
        self.dual_coef_ = coefficients[:, column].contiguous()
        self.X_fit_ = inputs
        self.train_points_ = points
        self.reference_mean_ = kernel.reference_mean
        self.solver_ = solver
        if dtype != torch.float64:  # the training points again in float64, for predict
            inputs64 = inputs.to(torch.float64)
            kernel64 = self._kernel_object(
                _workspace(budget, 8), inputs64 if center else None, None, "float64"
            )
            self._float64_points = kernel64.prepare(inputs64)
            self._float64_reference_mean = kernel64.reference_mean
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
        # The preconditioner holds B (n x M) and, while it is built, a few M x M matrices
        # and two row chunks of M (see NystromPreconditioner).
        wanted = min(self.n_centers, n)
        per_centre = (n + 4 * wanted + 2 * min(_CHUNK, n)) * itemsize
        centres = min(wanted, max(0, (budget - vectors) // per_centre))
        if centres < 1:
            raise ValueError(
                f"memory_budget={self.memory_budget!r} is too small for the "
                f"iterative solver with n={n}"
            )
        generator = make_generator(self.random_state)
        index = torch.randperm(n, generator=generator)[:centres].sort().values
        index = index.to(points.X.device)
        columns = kernel.matrix(points, points.take(index))
        preconditioner = NystromPreconditioner(columns, index, _CHUNK)
        shifts = torch.as_tensor(
            [n * r for r in ridges], dtype=points.X.dtype, device=points.X.device
        )
        evaluate = kernel.evaluator(points, points)
        # What the budget leaves once the preconditioner is built keeps kernel blocks
        # between iterations (all of them up to n of about 20,000 with 4 GiB).
        cache = blocks.BlockCache(budget - vectors - (n + centres) * centres * itemsize)

        def matvec(vectors_):
            return blocks.symmetric_product(evaluate, n, vectors_, kernel.entries, cache)

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
        """f(X) = K(X, X_fit) alpha of shape (n_samples,) as a numpy float64 array.

        Evaluated in float64 whatever ``dtype`` (alpha fitted in float32 is cast), so that a
        row predicts the same value alone or in any batch: float32 kernel entries round
        differently with the batch shape, and at a point equal to a training point the relu
        kernels' arc-cosine of a cosine of 1 amplifies a rounding e to about sqrt(e).
        """
        check_is_fitted(self, "dual_coef_")
        kernel, train_points = self._prediction_kernel()
        test_points = kernel.prepare(self._inputs(check_predict_data(self, X), "float64"))
        values = blocks.product(
            kernel.evaluator(test_points, train_points),
            len(test_points),
            len(train_points),
            self.dual_coef_.to(torch.float64)[:, None],
            kernel.entries,
        )[:, 0]
        return values.cpu().numpy()
