"""The convex infinite-width limit of the quadratic Taylor model with act'' = 1 ("Quad-infinity").

With the trainable activation act(u) = u^2/2 (``quadratic``, act'' = 1) the quadratic term of
docs/theory.md §1 is a quadratic form in u = (z, b), b the first-layer bias coordinate:

    f^Q_W(z) = (1/(2 sqrt m)) sum_r a_r (w_r . u)^2 = u^T A u,
    A = (1/(2 sqrt m)) sum_r a_r w_r w_r^T.

This module fits A directly by a convex program; docs/quadratic-form.md states the estimator,
its solvers and certificates, and derives which penalty on A the ||W||_{2,4}^8 penalty of the
paper (arXiv 2006.13436 eq. (4)) induces.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from scipy.optimize import brentq
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
from ..metrics import relative_error
from ._common import penalty_grid, with_input_bias

SOLVERS = ("auto", "admm", "proximal", "factored")
PENALTIES = ("nuclear", "taylor")
# "auto" takes ADMM while its linear system, of size min(n, D'(D'+1)/2), stays below this
# (a Cholesky factor of that size: 0.8 GB in float64 at 10,000); above it, the proximal
# solver up to an input width D' (bias coordinate included) of 256, the factored one beyond.
AUTO_ADMM_MAX_SYSTEM = 10_000
AUTO_PROXIMAL_MAX_WIDTH = 256
ADMM_BALANCE = 10.0  # rho changes when one ADMM residual exceeds the other by this factor
ADMM_BALANCE_UNTIL = 400  # ... checked every CHECK_EVERY iterations up to here, then every
ADMM_BALANCE_EVERY = 50  # this many
# min over W of ||W||_{2,4}^8 at a given A is TAYLOR_CONSTANT (tr(A_+)^2 + tr(A_-)^2)^2.
TAYLOR_CONSTANT = 64.0
CHECK_EVERY = 10  # proximal iterations between certificate evaluations
LBFGS_CHUNK = 50  # factored-solver iterations between certificate evaluations
_TINY = 1e-300


def _traces(eigenvalues: torch.Tensor) -> tuple[float, float]:
    """(tr A_+, tr A_-) from the eigenvalues of A."""
    return float(eigenvalues.clamp_min(0).sum()), float((-eigenvalues).clamp_min(0).sum())


def penalty_value(eigenvalues: torch.Tensor, reg: float, penalty: str) -> float:
    """reg ||A||_* ("nuclear") or 64 reg (tr(A_+)^2 + tr(A_-)^2)^2 ("taylor")."""
    positive, negative = _traces(eigenvalues)
    if penalty == "nuclear":
        return reg * (positive + negative)
    return TAYLOR_CONSTANT * reg * (positive**2 + negative**2) ** 2


def _shrunk_sum(magnitudes: np.ndarray, alpha: float) -> float:
    """The S >= 0 solving S = sum_j (v_j - alpha S)_+, v sorted descending."""
    if magnitudes.size == 0:
        return 0.0
    counts = np.arange(1, magnitudes.size + 1)
    sums = np.cumsum(magnitudes) / (1.0 + counts * alpha)
    # The active set is a prefix, and k is active iff v_k > alpha S_k (the largest such k).
    active = np.nonzero(magnitudes > alpha * sums)[0]
    return float(sums[active[-1]]) if active.size else 0.0


def taylor_shrink(values: np.ndarray, weight: float) -> np.ndarray:
    """argmin_x (1/2)|x - v|^2 + weight (S_+(x)^2 + S_-(x)^2)^2, S_+- the sums of x's parts.

    The minimiser keeps the signs of v and soft-thresholds its positive entries by alpha S_+ and
    its negative ones by alpha S_-, with alpha = 4 weight (S_+^2 + S_-^2); alpha is the root
    of an increasing scalar function, found by Brent's method.
    """
    values = np.asarray(values, dtype=np.float64)
    if weight <= 0:
        return values.copy()
    positive = np.sort(values[values > 0])[::-1]
    negative = np.sort(-values[values < 0])[::-1]

    def excess(alpha):
        sp, sn = _shrunk_sum(positive, alpha), _shrunk_sum(negative, alpha)
        return alpha - 4.0 * weight * (sp * sp + sn * sn)

    high = 4.0 * weight * (positive.sum() ** 2 + negative.sum() ** 2)
    if high <= 0:
        return np.zeros_like(values)
    alpha = brentq(excess, 0.0, high, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    up, down = alpha * _shrunk_sum(positive, alpha), alpha * _shrunk_sum(negative, alpha)
    return np.where(values > 0, np.maximum(values - up, 0.0), np.minimum(values + down, 0.0))


def shrink_eigenvalues(eigenvalues: torch.Tensor, step: float, reg: float, penalty: str):
    """The prox of step * penalty on the eigenvalues (the prox of a spectral function)."""
    if penalty == "nuclear":
        return torch.sign(eigenvalues) * (eigenvalues.abs() - step * reg).clamp_min(0)
    shrunk = taylor_shrink(eigenvalues.detach().cpu().numpy(), step * TAYLOR_CONSTANT * reg)
    return torch.as_tensor(shrunk, dtype=eigenvalues.dtype, device=eigenvalues.device)


class _Problem:
    """The data term (1/n) sum_i (y_i - u_i^T A u_i)^2 on features U (n, D')."""

    def __init__(self, U: torch.Tensor, y: torch.Tensor):
        self.U, self.y, self.n = U, y, U.shape[0]

    def predict(self, A: torch.Tensor) -> torch.Tensor:
        return ((self.U @ A) * self.U).sum(dim=1)

    def loss(self, prediction: torch.Tensor) -> float:
        return float(((self.y - prediction) ** 2).mean())

    def gradient(self, prediction: torch.Tensor) -> torch.Tensor:
        """G = -(2/n) sum_i r_i u_i u_i^T, r = y - prediction: the gradient of the data term."""
        residual = (self.y - prediction) * (-2.0 / self.n)
        G = self.U.T @ (residual[:, None] * self.U)
        return 0.5 * (G + G.T)

    def adjoint(self, weights: torch.Tensor) -> torch.Tensor:
        """M^*(w) = sum_i w_i u_i u_i^T, the adjoint of A -> (u_i^T A u_i)_i."""
        return self.U.T @ (weights[:, None] * self.U)

    def lipschitz_bound(self) -> float:
        """2 max_i |u_i|^2 lambda_max(U^T U / n) >= the gradient's Lipschitz constant:
        (u^T A u)^2 <= |u|^2 u^T A^2 u (Cauchy-Schwarz), summed."""
        covariance = self.U.T @ self.U / self.n
        top = float(torch.linalg.eigvalsh(covariance)[-1])
        return max(2.0 * float((self.U * self.U).sum(dim=1).max()) * top, _TINY)

    def lipschitz_estimate(self, generator, iterations: int = 30) -> float:
        """Power iteration on A -> (2/n) sum_i u_i (u_i^T A u_i) u_i^T (symmetric A)."""
        D = self.U.shape[1]
        noise = torch.randn(D, D, generator=generator, dtype=torch.float64)
        A = torch.eye(D, dtype=self.U.dtype, device=self.U.device)
        A = A + 0.1 * (noise + noise.T).to(A)
        value = 0.0
        for _ in range(iterations):
            A = A / A.norm().clamp_min(_TINY)
            image = self.U.T @ (self.predict(A)[:, None] * self.U) * (2.0 / self.n)
            value = float((image * A).sum())
            A = 0.5 * (image + image.T)
        return value


def _dual_value(problem: _Problem, r: torch.Tensor, G: torch.Tensor, reg: float) -> float:
    """The Fenchel dual of the nuclear-norm problem at the best feasible multiple theta r of a
    label residual r, G = -(2/n) M^*(r): (2 theta r.y - theta^2 |r|^2) / n, feasible when
    theta ||G||_op <= reg."""
    spectral = float(torch.linalg.eigvalsh(G).abs().max())
    theta_max = 1.0 if spectral <= reg else reg / spectral
    r_y, r_r = float(r @ problem.y), float(r @ r)
    theta = min(max(r_y / r_r, 0.0), theta_max) if r_r > 0 else 0.0
    return (2.0 * theta * r_y - theta * theta * r_r) / problem.n


class _ADMMSystem:
    """Solves (c M^* M + rho I) A = V for symmetric A, c = 2/n, M(A)_i = u_i^T A u_i.

    With n <= p = D'(D'+1)/2 labels, by the Woodbury identity on the n x n kernel
    K_ij = (u_i . u_j)^2 = M M^*:  A = (V - c M^*((rho I + c K)^{-1} M(V))) / rho;  else on the
    p x p Gram matrix of the symmetric features svec(u_i u_i^T) (off-diagonal entries times
    sqrt 2, so that <A, B>_F = svec(A) . svec(B)). One Cholesky factor per rho, in float64.
    """

    def __init__(self, problem: _Problem):
        self.problem = problem
        U = problem.U.to(torch.float64)
        n, width = U.shape
        self.c = 2.0 / n
        self.dual_side = n <= width * (width + 1) // 2
        if self.dual_side:
            gram = U @ U.T
            self.matrix = self.c * gram * gram
        else:
            rows, cols = torch.triu_indices(width, width, device=U.device)
            scale = torch.full(rows.shape, math.sqrt(2.0), dtype=torch.float64, device=U.device)
            scale[rows == cols] = 1.0
            self.rows, self.cols, self.scale = rows, cols, scale
            features = U[:, rows] * U[:, cols] * scale
            self.matrix = self.c * (features.T @ features)
        self.size = self.matrix.shape[0]
        self.rho, self.factor = None, None

    def initial_rho(self) -> float:
        """c mean_i |u_i|^4: the mean curvature of the data term along one label's direction."""
        return self.c * float((self.problem.U.to(torch.float64) ** 2).sum(dim=1).square().mean())

    def _factorise(self, rho: float):
        if rho != self.rho:
            eye = torch.eye(self.size, dtype=torch.float64, device=self.matrix.device)
            self.factor = torch.linalg.cholesky(self.matrix + rho * eye)
            self.rho = rho

    def solve(self, V: torch.Tensor, rho: float) -> torch.Tensor:
        self._factorise(rho)
        dtype = V.dtype
        V = V.to(torch.float64)
        if self.dual_side:
            U = self.problem.U.to(torch.float64)
            weights = torch.cholesky_solve(((U @ V) * U).sum(dim=1)[:, None], self.factor)
            A = (V - self.c * (U.T @ (weights * U))) / rho
        else:
            vector = (
                torch.cholesky_solve((V[self.rows, self.cols] * self.scale)[:, None], self.factor)[
                    :, 0
                ]
                / self.scale
            )
            A = torch.zeros_like(V)
            A[self.rows, self.cols] = vector
            A[self.cols, self.rows] = vector
        return (0.5 * (A + A.T)).to(dtype)


class QuadraticFormRegressor(RegressorMixin, BaseEstimator):
    """Quad-infinity: the quadratic Taylor model with act'' = 1 as a convex program in A.

    Fits the symmetric (D'+1) x (D'+1) matrix A of f(z) = u^T A u, u = (z, b) (b =
    ``input_bias``; without it u = z), by minimising

    $$
    L(A) = \\frac1n \\sum_i (y_i - u_i^T A u_i)^2 + \\mathrm{reg}\\, \\|A\\|_*
    $$

    (``penalty="nuclear"``), or with ``penalty="taylor"`` the penalty
    64 reg (tr(A_+)^2 + tr(A_-)^2)^2, which is the minimum of reg ||W||_{2,4}^8 over the
    weights W of a quadratic Taylor model with the symmetric initialisation representing A
    (exactly, at every width m >= 2 max(rank A_+, rank A_-)): the same ``reg`` as
    [`QuadraticTaylorRegressor`][hierlearn.QuadraticTaylorRegressor] with
    ``activation="quadratic"``. Both
    penalties are convex; docs/quadratic-form.md derives them and compares their paths.

    Solvers:

    - ``proximal``: accelerated proximal gradient (FISTA with function-value restart) whose
      prox is an eigenvalue shrinkage; step 1/L from a power-iteration estimate of the
      gradient's Lipschitz constant, raised by backtracking when the descent test fails.
      A step costs O(n D'^2 + D'^3).
    - ``factored``: A = P P^T - N N^T with r_+ and r_- columns, penalty reg (||P||_F^2 +
      ||N||_F^2) (the variational form of the nuclear norm; "taylor":
      64 reg (||P||_F^4 + ||N||_F^4)^2), minimised by L-BFGS at fixed rank, from A = 0; when
      the first-order certificate fails (an eigenvalue of the gradient G below -tau_+ or above
      tau_-, tau = reg for the nuclear norm), columns are added along the violating
      eigenvectors of G. A step costs O(n D' r).
    - ``admm``: ADMM on the split A = B: the data term solved exactly in A (one Cholesky
      factor per rho, on the n x n kernel (u_i . u_j)^2 by the Woodbury identity when n is at
      most the D'(D'+1)/2 coefficients of A, else on their Gram matrix), the penalty's prox in
      B, rho balanced between the two residuals. A step costs O(n D'^2 + D'^3); unlike the
      proximal step it does not shrink with the data term's worst curvature, which a large
      ``input_bias`` makes large (docs/quadratic-form.md §2).
    - ``auto``: ``admm`` while min(n, D'(D'+1)/2) <= 10,000, else ``proximal`` when
      D' <= 256 (an eigendecomposition is then cheap and the method needs no rank), else
      ``factored`` (the n D'^2 products of a proximal step dominate while the solution's
      rank stays small).

    Certificates (every solver; ``converged_`` when either is below ``tol``): the relative
    optimality residual ||A - prox_t(A - t G)||_F ||A||_F / (t L(A)), t = 1/L_bound,
    L_bound = 2 max_i |u_i|^2 lambda_max(U^T U / n) (a first-order estimate of the relative
    objective decrease left; zero exactly at the minimiser, for either penalty and reg = 0),
    and, for the nuclear norm with reg > 0, the relative duality gap (L(A) - D) / L(A), D the
    best Fenchel dual value at a scaled residual (a bound on the relative suboptimality). Both
    are linear in the error of the gradient G, so in float64 they bottom out near 1e-7 (the
    factored solver, whose gradient carries little signal along small eigenvalues of A, near
    1e-6 at small ``reg``) while the objective itself is then accurate to about 1e-12.

    A list of ``reg`` values is a penalty path: ``fit`` needs ``X_val, y_val``, solves from the
    largest value down, each warm-started at the previous solution, and keeps the value with
    the smallest relative validation error (routed in a pipeline as for
    [`KernelRegressor`][hierlearn.KernelRegressor]). In a spec, ``tuning.quadratic_form.reg`` gives
    every
    ``quadratic_form`` learner this grid.

    Args:
        reg: penalty weight >= 0, or a list of them (a path chosen on validation data).
        reg_scale: "absolute" (default): ``reg`` is the weight itself; "max": ``reg`` is a
            fraction of ``reg_max_``, the smallest weight at which A = 0 is the minimiser
            (the spectral norm of the data term's gradient at A = 0; nuclear penalty only).
            A path of fractions starting at 1 then always holds the zero model, so its
            largest value is never too small for the data, whatever their scale or noise
            (as the penalty paths of the lasso start at the weight that zeroes every
            coefficient).
        penalty: "nuclear" (reg ||A||_*) or "taylor" (the exact image of reg ||W||_{2,4}^8).
        input_bias: when > 0 (default 1.0), a constant coordinate of this value is appended
            to every z, as the other estimators do; 0 gives a homogeneous quadratic form.
        solver: "auto", "admm", "proximal" or "factored".
        max_rank: the most columns of P and of N each (factored solver; None: D').
        tol: the certificate's threshold (relative residual or duality gap).
        max_iter: the most proximal or ADMM iterations, or L-BFGS iterations of the factored
            solver, per value of ``reg``.
        device: "cpu" or "cuda".
        dtype: "float64" (default) or "float32".
        random_state: seed of the power iteration's starting matrix.

    Attributes:
        A_: the fitted symmetric matrix (D'+1, D'+1), a torch tensor.
        reg_: the ``reg`` used (a fraction of ``reg_max_`` with ``reg_scale="max"``);
            validation_errors_: {reg: relative validation error} for a list.
        reg_max_: the smallest penalty weight at which A = 0 minimises the objective.
        solver_: "admm", "proximal" or "factored".
        converged_: whether the certificate was met; n_iter_: iterations run.
        objective_: L(A_); train_loss_: its data term; gap_: the relative duality gap
            (nuclear penalty; None otherwise); residual_: the relative optimality residual
            (see Certificates).
        rank_: the number of eigenvalues of A_ above sqrt(machine epsilon) times the largest.
        eigenpairs_: (values, vectors) of A_ in float64, the eigenvalues above 1e-13 times the
            largest (``predict`` applies a low-rank A_ through them).
    """

    def __init__(
        self,
        reg=1e-3,
        *,
        reg_scale: str = "absolute",
        penalty: str = "nuclear",
        input_bias: float = 1.0,
        solver: str = "auto",
        max_rank: int | None = None,
        tol: float = 1e-6,
        max_iter: int = 5000,
        device: str = "cpu",
        dtype: str = "float64",
        random_state=None,
    ):
        self.reg = reg
        self.reg_scale = reg_scale
        self.penalty = penalty
        self.input_bias = input_bias
        self.solver = solver
        self.max_rank = max_rank
        self.tol = tol
        self.max_iter = max_iter
        self.device = device
        self.dtype = dtype
        self.random_state = random_state

    _parameter_constraints: ClassVar[dict] = {
        "reg": [NON_NEGATIVE, "array-like"],
        "reg_scale": [StrOptions({"absolute", "max"})],
        "penalty": [StrOptions(set(PENALTIES))],
        "input_bias": [NON_NEGATIVE],
        "solver": [StrOptions(set(SOLVERS))],
        "max_rank": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "device": DEVICE_CONSTRAINT,
        "dtype": [StrOptions(set(DTYPE_CONSTRAINT))],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __sklearn_tags__(self):
        return torch_tags(super().__sklearn_tags__(), self.device)

    # ------------------------------------------------------------------ fit

    def fit(self, X, y, X_val=None, y_val=None):
        """Fit A; with a list of ``reg`` values solve the path and choose on (X_val, y_val)."""
        self._validate_params()
        regs = penalty_grid("reg", self.reg)
        device, dtype = resolve_device(self.device), resolve_dtype(self.dtype)
        X, y = check_fit_data(self, X, y)
        if X_val is not None or y_val is not None:  # checked even when unused (one reg)
            X_val, y_val = check_validation_data(self, X_val, y_val)
        elif len(regs) > 1:
            raise ValueError("reg is a list: pass X_val and y_val to fit to choose among them")
        U = as_tensor(with_input_bias(X, self.input_bias), dtype, device)
        problem = _Problem(U, as_tensor(y, dtype, device))
        # The smallest weight at which A = 0 minimises the nuclear-norm objective: the
        # spectral norm of the data term's gradient there (0 is in its subdifferential).
        zero = torch.zeros_like(problem.y)
        self.reg_max_ = float(torch.linalg.eigvalsh(problem.gradient(zero)).abs().max())
        if self.reg_scale == "max":
            if self.penalty != "nuclear":
                raise ValueError(
                    "reg_scale='max' needs penalty='nuclear' (the 'taylor' penalty has no "
                    "weight at which A = 0 becomes the minimiser); accepted: reg_scale="
                    "'absolute' with any penalty"
                )
            weight = {reg: reg * self.reg_max_ for reg in regs}
        else:
            weight = {reg: reg for reg in regs}
        width = U.shape[1]
        solver = self.solver
        if solver == "auto":
            if min(U.shape[0], width * (width + 1) // 2) <= AUTO_ADMM_MAX_SYSTEM:
                solver = "admm"
            else:
                solver = "proximal" if width <= AUTO_PROXIMAL_MAX_WIDTH else "factored"
        self.solver_ = solver
        generator = make_generator(self.random_state)
        self._bound = problem.lipschitz_bound()
        lipschitz = None
        if solver == "proximal":
            estimate = 1.05 * problem.lipschitz_estimate(generator)
            lipschitz = min(max(estimate, _TINY), self._bound)
        system = _ADMMSystem(problem) if solver == "admm" else None
        state, best, errors = None, None, {}
        if len(regs) > 1:
            U_val = as_tensor(with_input_bias(X_val, self.input_bias), dtype, device)
            y_val = as_tensor(y_val, dtype, device)
        for reg in sorted(set(regs), reverse=True):
            if solver == "proximal":
                result, lipschitz = self._proximal(problem, weight[reg], state, lipschitz)
                state = result["A"]
            elif solver == "admm":
                result = self._admm(problem, system, weight[reg], state)
                state = (result["A"], result["rho"])
            else:
                result = self._factored(problem, weight[reg], state)
                state = result["factors"]
            if len(regs) > 1:
                prediction = ((U_val @ result["A"]) * U_val).sum(dim=1)
                errors[reg] = relative_error(prediction, y_val)
                if best is None or errors[reg] < errors[best[0]]:
                    best = (reg, result)
            else:
                best = (reg, result)
        self.reg_, result = best
        if len(regs) > 1:
            self.validation_errors_ = {reg: errors[reg] for reg in regs}
        self.A_ = result["A"]
        for name in ("converged", "n_iter", "objective", "train_loss", "gap", "residual"):
            setattr(self, name + "_", result[name])
        values, vectors = torch.linalg.eigh(self.A_.to(torch.float64))
        magnitudes = values.abs()
        largest = float(magnitudes.max())
        cutoff = math.sqrt(torch.finfo(dtype).eps) * largest
        self.rank_ = int((magnitudes > cutoff).sum()) if cutoff > 0 else 0
        keep = magnitudes > 1e-13 * largest
        self.eigenpairs_ = (values[keep], vectors[:, keep])
        if not self.converged_:
            warnings.warn(
                f"the {solver} solver stopped after max_iter={self.max_iter} iterations "
                f"above tol={self.tol} (reg={self.reg_})",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _certificate(self, problem: _Problem, A, prediction, eigenvalues, reg, residuals=()):
        """(objective, data term, relative gap or None, relative residual, converged).

        ``residuals``: further candidate dual points (label residuals of nearby matrices; ADMM
        passes its unpenalised iterate's): the gap uses the best dual value among them."""
        loss = problem.loss(prediction)
        objective = loss + penalty_value(eigenvalues, reg, self.penalty)
        G = problem.gradient(prediction)
        step = 1.0 / self._bound
        values, vectors = torch.linalg.eigh(A - step * G)
        proxed = (vectors * shrink_eigenvalues(values, step, reg, self.penalty)) @ vectors.T
        # ||gradient mapping|| ||A|| / L(A): a first-order estimate of the relative objective
        # decrease still available (convexity: L(A) - L* <= <g, A - A*> for g in dL(A)).
        size = max(float(A.norm()), float(proxed.norm()))
        residual = float((A - proxed).norm()) / step * size / max(objective, _TINY)
        gap = None
        if self.penalty == "nuclear":
            dual = _dual_value(problem, problem.y - prediction, G, reg)
            for r in residuals:
                dual = max(dual, _dual_value(problem, r, problem.gradient(problem.y - r), reg))
            gap = max(objective - dual, 0.0) / max(objective, _TINY)
        # The duality gap bounds the suboptimality rigorously; the residual is only a
        # first-order estimate, scaled by the worst-case Lipschitz bound, which on many
        # heavy-tailed samples is so large that the residual is tiny far from the optimum
        # (it certified A = 0 after one step at n = 1e5). So the gap decides where it exists.
        if gap is not None and reg > 0:
            converged = gap <= self.tol
        else:
            converged = residual <= self.tol
        return objective, loss, gap, residual, converged

    def _result(self, problem, A, prediction, eigenvalues, reg, n_iter, residuals=(), **extra):
        objective, loss, gap, residual, converged = self._certificate(
            problem, A, prediction, eigenvalues, reg, residuals
        )
        return {
            "A": A,
            "objective": objective,
            "train_loss": loss,
            "gap": gap,
            "residual": residual,
            "converged": converged,
            "n_iter": n_iter,
            **extra,
        }

    # ------------------------------------------------------------------ proximal

    def _proximal(self, problem: _Problem, reg: float, start, lipschitz: float):
        D = problem.U.shape[1]
        x = torch.zeros(D, D, dtype=problem.U.dtype, device=problem.U.device)
        if start is not None:
            x = start.clone()
        px = problem.predict(x)
        x_eigenvalues = torch.linalg.eigvalsh(x)
        fx = problem.loss(px) + penalty_value(x_eigenvalues, reg, self.penalty)
        y_point, py, t = x, px, 1.0
        result = None
        for iteration in range(1, self.max_iter + 1):
            G = problem.gradient(py)
            f_y = problem.loss(py)
            while True:
                step = 1.0 / lipschitz
                values, vectors = torch.linalg.eigh(y_point - step * G)
                shrunk = shrink_eigenvalues(values, step, reg, self.penalty)
                x_new = (vectors * shrunk) @ vectors.T
                x_new = 0.5 * (x_new + x_new.T)
                p_new = problem.predict(x_new)
                f_new = problem.loss(p_new)
                move = x_new - y_point
                model = f_y + float((G * move).sum()) + 0.5 * lipschitz * float((move**2).sum())
                if f_new <= model + 1e-12 * abs(f_y) or lipschitz >= self._bound:
                    break
                lipschitz = min(2.0 * lipschitz, self._bound)
            F_new = f_new + penalty_value(shrunk, reg, self.penalty)
            if F_new > fx and t > 1.0:  # restart: drop the momentum, redo from x
                y_point, py, t = x, px, 1.0
                continue
            t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_new
            y_point = x_new + beta * (x_new - x)
            py = p_new + beta * (p_new - px)
            x, px, fx, t, x_eigenvalues = x_new, p_new, F_new, t_new, shrunk
            if iteration % CHECK_EVERY == 0 or iteration == self.max_iter or iteration == 1:
                result = self._result(problem, x, px, x_eigenvalues, reg, iteration)
                if result["converged"]:
                    return result, lipschitz
        if result is None or result["n_iter"] != self.max_iter:
            result = self._result(problem, x, px, x_eigenvalues, reg, self.max_iter)
        return result, lipschitz

    # ------------------------------------------------------------------ ADMM

    def _admm(self, problem: _Problem, system: _ADMMSystem, reg: float, start):
        """ADMM on A = B: the data term in A (one linear solve), the penalty in B (its prox,
        an eigenvalue shrinkage), the scaled multiplier Lam; rho balanced between the primal
        residual |A - B| and the dual one rho |B - B_prev| (Boyd et al. 2011, §3.4.1)."""
        D = problem.U.shape[1]
        if start is None:
            B = problem.U.new_zeros(D, D)
            rho = system.initial_rho()
        else:
            B, rho = start
        # The multiplier that makes B a fixed point when B is optimal: rho Lam = -G(B).
        Lam = -problem.gradient(problem.predict(B)) / rho
        target = system.c * problem.adjoint(problem.y)
        result = None
        for iteration in range(1, self.max_iter + 1):
            previous = B
            A = system.solve(target + rho * (B - Lam), rho)
            values, vectors = torch.linalg.eigh(A + Lam)
            shrunk = shrink_eigenvalues(values, 1.0 / rho, reg, self.penalty)
            B = (vectors * shrunk) @ vectors.T
            B = 0.5 * (B + B.T)
            Lam = Lam + A - B
            if iteration % CHECK_EVERY and iteration != self.max_iter:
                continue
            result = self._result(
                problem,
                B,
                problem.predict(B),
                shrunk,
                reg,
                iteration,
                residuals=(problem.y - problem.predict(A),),
                rho=rho,
            )
            if result["converged"]:
                return result
            every = CHECK_EVERY if iteration <= ADMM_BALANCE_UNTIL else ADMM_BALANCE_EVERY
            if iteration % every == 0:
                primal, dual = float((A - B).norm()), rho * float((B - previous).norm())
                if primal > ADMM_BALANCE * dual:
                    rho, Lam = 2.0 * rho, Lam / 2.0
                elif dual > ADMM_BALANCE * primal:
                    rho, Lam = rho / 2.0, Lam * 2.0
        return result

    # ------------------------------------------------------------------ factored

    def _factored_objective(self, problem: _Problem, reg: float, split: int):
        U, y, n = problem.U, problem.y, problem.n

        def objective(params: torch.Tensor):
            P, N = params[:, :split], params[:, split:]
            UP, UN = U @ P, U @ N
            prediction = (UP * UP).sum(dim=1) - (UN * UN).sum(dim=1)
            residual = y - prediction
            value = (residual * residual).mean()
            weights = residual * (-4.0 / n)
            grad = torch.cat([U.T @ (weights[:, None] * UP), -(U.T @ (weights[:, None] * UN))], 1)
            a, b = (P * P).sum(), (N * N).sum()
            if self.penalty == "nuclear":
                value = value + reg * (a + b)
                grad.add_(params, alpha=2.0 * reg)
            else:
                quad = a * a + b * b
                value = value + TAYLOR_CONSTANT * reg * quad * quad
                scale = 8.0 * TAYLOR_CONSTANT * reg * quad
                grad[:, :split].add_(P * (scale * a))
                grad[:, split:].add_(N * (scale * b))
            return value, grad

        return objective

    def _thresholds(self, eigenvalues, reg) -> tuple[float, float]:
        """(tau_+, tau_-): optimality needs -tau_+ <= eigenvalues of G <= tau_- off A's range."""
        if self.penalty == "nuclear":
            return reg, reg
        positive, negative = _traces(eigenvalues)
        scale = 4.0 * TAYLOR_CONSTANT * reg * (positive**2 + negative**2)
        return scale * positive, scale * negative

    def _factored(self, problem: _Problem, reg: float, start):
        U = problem.U
        D = U.shape[1]
        max_rank = D if self.max_rank is None else min(self.max_rank, D)
        P, N = (U.new_zeros(D, 0), U.new_zeros(D, 0)) if start is None else start
        iterations, margin, stalled = 0, 1e-3, False
        optimizer = params = closure = None
        while True:
            A = P @ P.T - N @ N.T
            prediction = problem.predict(A)
            eigenvalues = torch.linalg.eigvalsh(A)
            result = self._result(
                problem, A, prediction, eigenvalues, reg, max(iterations, 1), factors=(P, N)
            )
            if result["converged"] or iterations >= self.max_iter:
                return result
            values, vectors = torch.linalg.eigh(problem.gradient(prediction))
            up, down = self._thresholds(eigenvalues, reg)
            if stalled:  # L-BFGS cannot improve at this rank: grow along any violation
                margin = 0.0
            grow_p = torch.nonzero(values < -up * (1 + margin) - _TINY).flatten()
            grow_n = torch.nonzero(values > down * (1 + margin) + _TINY).flatten().flip(0)
            grow_p = grow_p[: max(0, min(max(4, P.shape[1]), max_rank - P.shape[1]))]
            grow_n = grow_n[: max(0, min(max(4, N.shape[1]), max_rank - N.shape[1]))]
            if len(grow_p) or len(grow_n):
                new_p = self._columns(problem, prediction, vectors[:, grow_p], up, +1)
                new_n = self._columns(problem, prediction, vectors[:, grow_n], down, -1)
                P, N = torch.cat([P, new_p], dim=1), torch.cat([N, new_n], dim=1)
                optimizer, margin = None, 1e-3
            elif stalled:  # nothing left to try: stop uncertified
                return result
            if optimizer is None:
                params = torch.cat([P, N], dim=1).contiguous()
                split = P.shape[1]
                objective = self._factored_objective(problem, reg, split)
                optimizer = torch.optim.LBFGS(
                    [params],
                    lr=1.0,
                    max_iter=LBFGS_CHUNK,
                    history_size=20,
                    tolerance_grad=0.0,
                    tolerance_change=0.0,
                    line_search_fn="strong_wolfe",
                )

                def closure(objective=objective, params=params):
                    value, grad = objective(params)
                    params.grad = grad
                    return value

            chunk = min(LBFGS_CHUNK, self.max_iter - iterations)
            group, state = optimizer.param_groups[0], optimizer.state[params]
            group["max_iter"], group["max_eval"] = chunk, 4 * chunk
            before, evaluations = state.get("n_iter", 0), state.get("func_evals", 0)
            optimizer.step(closure)
            state = optimizer.state[params]
            done = state["n_iter"] - before
            # Stopped early, not for the evaluation cap: no descent direction or step is left.
            stalled = done < chunk and state["func_evals"] - evaluations < 4 * chunk
            iterations += max(done, 1)
            P, N = params.detach()[:, :split].clone(), params.detach()[:, split:].clone()

    @staticmethod
    def _columns(problem: _Problem, prediction, vectors, threshold: float, sign: int):
        """New columns sqrt(s) v along eigenvectors v of G, s the exact line-search step of
        A + sign s v v^T for the data term plus the linearised penalty threshold * s."""
        if vectors.shape[1] == 0:
            return vectors
        q = (problem.U @ vectors) ** 2  # (n, k): (u_i . v)^2
        correlation = (problem.y - prediction) @ q
        steps = (sign * correlation - 0.5 * problem.n * threshold) / (q * q).sum(dim=0)
        # A zero column is a stationary point of the factored objective: keep every step > 0.
        steps = steps.clamp_min(1e-6 * float(steps.abs().max()) + _TINY)
        return vectors * steps.sqrt()

    # ------------------------------------------------------------------ predict

    def predict(self, X):
        """f(z) = u^T A_ u, u = (z, input_bias), of shape (n_samples,) as a numpy float64 array
        (evaluated in float64 whatever ``dtype``).

        A_ of low rank (the penalty's solutions) is applied through its eigenpairs,
        f(z) = sum_k lambda_k (v_k . u)^2 over the eigenvalues above 1e-13 max |lambda|: a cost
        of O(D' r) a row instead of O(D'^2), equal to the dense form up to rounding."""
        check_is_fitted(self, "A_")
        U = with_input_bias(check_predict_data(self, X), self.input_bias)
        A = self.A_.to(torch.float64)
        U = as_tensor(U, torch.float64, A.device)
        values, vectors = self.eigenpairs_
        if 2 * values.numel() < A.shape[0]:
            projections = U @ vectors
            return ((projections * projections) @ values).cpu().numpy()
        return ((U @ A) * U).sum(dim=1).cpu().numpy()
