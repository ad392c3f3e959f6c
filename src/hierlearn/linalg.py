"""Dense linear algebra for ridge problems (float64 by default).

The convention everywhere in hierlearn: kernel ridge regression with ridge ``r`` on ``n``
training points minimises (1/n) sum_i (y_i - f(x_i))^2 + r ||f||_H^2, whose solution is
f = k(., X) alpha with alpha = (K + n r I)^{-1} y.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch


def solve_psd(matrix: torch.Tensor, rhs: torch.Tensor, shift: float) -> torch.Tensor:
    """Solve (matrix + shift I) x = rhs for a symmetric positive semi-definite ``matrix``.

    Uses a Cholesky factorisation and two triangular solves (much faster than
    ``torch.cholesky_solve`` for a few right-hand sides). Falls back to an eigendecomposition
    with eigenvalues floored at machine precision when Cholesky fails (singular matrix, zero
    shift).
    """
    n = matrix.shape[0]
    eye = torch.eye(n, dtype=matrix.dtype, device=matrix.device)
    vector = rhs.ndim == 1
    rhs2 = rhs.unsqueeze(1) if vector else rhs
    factor, info = torch.linalg.cholesky_ex(matrix + shift * eye)
    if int(info) == 0:
        half = torch.linalg.solve_triangular(factor, rhs2, upper=False)
        solution = torch.linalg.solve_triangular(factor.mT, half, upper=True)
    else:
        eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
        shifted = eigenvalues + shift
        floor = torch.finfo(matrix.dtype).eps * max(float(shifted.abs().max()), 1.0) * n
        inverse = torch.where(shifted > floor, 1.0 / shifted, torch.zeros_like(shifted))
        solution = eigenvectors @ (inverse.unsqueeze(1) * (eigenvectors.mT @ rhs2))
    return solution[:, 0] if vector else solution


CHOLESKY_BLOCK = 512  # panel width of the in-place blocked Cholesky


def cholesky_lower_(matrix: torch.Tensor, block: int = CHOLESKY_BLOCK) -> bool:
    """Overwrite the lower triangle of ``matrix`` with its Cholesky factor L (A = L L^T).

    Right-looking blocked algorithm on views of ``matrix``: only one panel of ``block``
    columns is allocated at a time, so the peak memory stays one n x n matrix (a plain
    ``torch.linalg.cholesky`` holds two). Only the lower triangle is read; the strict upper
    triangle is left as it was. Pass ``K.mT`` to factorise a symmetric K whose upper triangle
    is filled (the transposed view of a row-major matrix is column-major, which LAPACK and
    BLAS use without copying).

    Returns:
        True on success, False when the matrix is not numerically positive definite (the
        lower triangle is then partly overwritten).
    """
    n = matrix.shape[0]
    for start in range(0, n, block):
        stop = min(start + block, n)
        diagonal = matrix[start:stop, start:stop]
        factor, info = torch.linalg.cholesky_ex(diagonal)  # reads the lower triangle
        if int(info) != 0:
            return False
        diagonal.copy_(factor.add_(torch.triu(diagonal, 1)))  # keep the strict upper part
        if stop == n:
            break
        panel = matrix[stop:, start:stop]
        panel.copy_(torch.linalg.solve_triangular(factor, panel.mT, upper=False).mT)
        # Trailing update of the lower triangle, one block column at a time: the square
        # block on the diagonal keeps its strict upper part.
        for column in range(stop, n, block):
            end = min(column + block, n)
            rows = panel[column - stop : end - stop]
            matrix[column:end, column:end].sub_(torch.tril(rows @ rows.mT))
            if end < n:
                matrix[end:, column:end].addmm_(panel[end - stop :], rows.mT, alpha=-1.0)
    return True


def solve_psd_(matrix: torch.Tensor, rhs: torch.Tensor, shift: float) -> torch.Tensor | None:
    """Solve (matrix + shift I) x = rhs in place, destroying ``matrix``.

    Only the upper triangle of the (row-major) symmetric ``matrix`` is read, and no second
    n x n matrix is allocated: the diagonal is shifted, `cholesky_lower_` factorises
    the column-major view ``matrix.mT`` and two triangular solves follow.

    Returns:
        x with the shape of ``rhs``, or None when the shifted matrix is not numerically
        positive definite (then ``matrix`` is garbage; use `solve_psd` on a fresh copy).
    """
    matrix.diagonal().add_(shift)
    lower = matrix.mT
    if not cholesky_lower_(lower):
        return None
    vector = rhs.ndim == 1
    rhs2 = rhs.unsqueeze(1) if vector else rhs
    half = torch.linalg.solve_triangular(lower, rhs2, upper=False)
    solution = torch.linalg.solve_triangular(lower.mT, half, upper=True)
    return solution[:, 0] if vector else solution


class RidgePath(NamedTuple):
    """Validation predictions and dual coefficients for each ridge of a grid.

    Attributes:
        predictions: (n_val, n_ridges), column j = K_val,train alpha_j.
        coefficients: (n, n_ridges), column j = alpha_j = (K + n r_j I)^{-1} y.
    """

    predictions: torch.Tensor
    coefficients: torch.Tensor


# Up to this many Cholesky factorisations, the ridge path factorises; beyond, one
# eigendecomposition is cheaper (on CPU ``eigh`` costs tens of Cholesky factorisations).
CHOLESKY_RIDGES = 8

# One factorisation of K + n mu I serves every ridge within this factor of mu (see
# `ridge_path`): the preconditioned system's condition number is at most this ratio.
RIDGE_GROUP_RATIO = 100.0
# Lanczos on the factored system stops at this relative residual of the preconditioned
# system, after at most this many steps; a ridge whose solution then leaves a relative
# residual ||(K + n r I) alpha - y|| / ||y|| above RIDGE_RESIDUAL_TOL is factorised itself.
LANCZOS_TOL = 1e-12
LANCZOS_MAX_ITER = 300
RIDGE_RESIDUAL_TOL = 1e-10


def ridge_groups(ridges, ratio: float = RIDGE_GROUP_RATIO) -> list[tuple[float, list[int]]]:
    """Cover a grid of positive ridges by factorisations: [(pivot, members), ...], the pivot a
    ridge value to factorise at and the members indices into ``ridges``.

    Greedy from the smallest ridge r not yet covered: the members are every ridge up to
    ratio^2 r, the pivot the geometric middle of the smallest and the largest, so each member
    lies within ``ratio`` of its pivot. A grid whose neighbours are 100 apart, such as 1e-10,
    1e-8, ..., 1e-2, needs two: pivots 1e-8 (1e-10, 1e-8, 1e-6) and 1e-3 (1e-4, 1e-2).
    """
    order = sorted(range(len(ridges)), key=lambda i: ridges[i])
    groups, start = [], 0
    while start < len(order):
        low = ridges[order[start]]
        stop = start
        while stop + 1 < len(order) and ridges[order[stop + 1]] <= low * ratio * ratio:
            stop += 1
        pivot = math.sqrt(low * ridges[order[stop]])
        groups.append((pivot, order[start : stop + 1]))
        start = stop + 1
    return groups


def shifted_solves(
    lower: torch.Tensor,
    y: torch.Tensor,
    shifts,
    tol: float = LANCZOS_TOL,
    max_iter: int = LANCZOS_MAX_ITER,
) -> tuple[torch.Tensor, int, list[bool]]:
    """Solve (L L^T + c_j I) x_j = y for every shift c_j from one Cholesky factor L.

    With N = L^{-1} L^{-T} and z = L^T x, the system reads (I + c N) z = L^{-1} y, a shifted
    system in N for every c (positive definite for every c > -lambda_min(L L^T)). One Lanczos
    run on N from b = L^{-1} y (fully re-orthogonalised; two triangular solves a step)
    serves all of them: z_j = ||b|| V_k (I + c_j T_k)^{-1} e_1, whose residual norm
    |c_j| beta_k |[(I + c_j T_k)^{-1} e_1]_k| ||b|| is followed through the LDL^T pivots of
    the tridiagonal matrix at no cost. The eigenvalues of I + c N are (s + mu + c) / (s + mu)
    over the eigenvalues s of K = L L^T - mu I, so with mu + c within a factor R of mu the
    condition number is at most R and the steps at most about sqrt(R) ln(2 / tol) / 2.

    Args:
        lower: (n, n) tensor whose lower triangle is L.
        y: (n,) right-hand side.
        shifts: the c_j (each > -lambda_min(L L^T)).
        tol: relative residual ||b - (I + c N) z|| / ||b|| at which a shift has converged.
        max_iter: the most Lanczos steps.

    Returns:
        (solutions (n, len(shifts)), steps, converged per shift).
    """

    def apply_n(vector):  # L^{-1} L^{-T} v
        half = torch.linalg.solve_triangular(lower.mT, vector[:, None], upper=True)
        return torch.linalg.solve_triangular(lower, half, upper=False)[:, 0]

    shifts = [float(c) for c in shifts]
    n = len(y)
    b = torch.linalg.solve_triangular(lower, y[:, None], upper=False)[:, 0]
    norm = float(b.norm())
    if norm == 0.0:
        return y.new_zeros((n, len(shifts))), 0, [True] * len(shifts)
    basis = y.new_zeros((n, min(max_iter, n) + 1))
    basis[:, 0] = b / norm
    alphas, betas = [], []
    pivots = [None] * len(shifts)  # last LDL^T pivot d_k of I + c T_k, per shift
    forward = [1.0] * len(shifts)  # the forward-substitution entry w_k of e_1, per shift
    residuals = [float("inf")] * len(shifts)
    steps = 0
    while steps < basis.shape[1] - 1:
        v = basis[:, steps]
        w = apply_n(v)
        alpha = float(v @ w)
        w -= alpha * v
        if steps:
            w -= betas[-1] * basis[:, steps - 1]
        used = basis[:, : steps + 1]
        w -= used @ (used.mT @ w)  # full re-orthogonalisation (two passes: stable)
        w -= used @ (used.mT @ w)
        beta = float(w.norm())
        for j, c in enumerate(shifts):
            diagonal = 1.0 + c * alpha
            if steps:
                off = c * betas[-1]
                forward[j] = -off / pivots[j] * forward[j]
                diagonal -= off * off / pivots[j]
            pivots[j] = diagonal
            residuals[j] = abs(c) * beta * abs(forward[j] / diagonal)
        alphas.append(alpha)
        betas.append(beta)
        steps += 1
        # An invariant subspace: the Krylov solution is exact for every shift.
        exhausted = beta <= torch.finfo(y.dtype).eps * max(abs(a) for a in alphas)
        if exhausted or max(residuals) <= tol:
            break
        basis[:, steps] = w / beta
    tridiagonal = torch.diag(torch.tensor(alphas, dtype=y.dtype, device=y.device))
    if steps > 1:
        off = torch.tensor(betas[:-1], dtype=y.dtype, device=y.device)
        tridiagonal += torch.diag(off, 1) + torch.diag(off, -1)
    eye = torch.eye(steps, dtype=y.dtype, device=y.device)
    first = eye[:, :1]
    columns = [torch.linalg.solve(eye + c * tridiagonal, first)[:, 0] * norm for c in shifts]
    z = basis[:, :steps] @ torch.stack(columns, 1)
    solutions = torch.linalg.solve_triangular(lower.mT, z, upper=True)
    return solutions, steps, [exhausted or r <= tol for r in residuals]


def ridge_path(
    K_train: torch.Tensor, y: torch.Tensor, K_val_train: torch.Tensor, ridges
) -> RidgePath:
    """Kernel ridge regression for every ridge of a grid.

    With positive ridges, the grid is covered by `ridge_groups`: one in-place Cholesky
    factorisation of K + n mu I per group (on a reused copy of K: two n x n matrices of
    memory), from which `shifted_solves` solves every ridge of the group by one Lanczos run
    whose condition number is at most ``RIDGE_GROUP_RATIO``. Each solution is checked: a
    relative residual ||(K + n r I) alpha - y|| / ||y|| above ``RIDGE_RESIDUAL_TOL`` (or above
    ``RIDGE_GROUP_RATIO`` times that of the exact solve at the pivot, where K is so
    ill-conditioned that an exact solve leaves more), or a Lanczos run that did not converge,
    gets a factorisation of its own. The presets' grid 1e-10, 1e-8, ..., 1e-2 takes two
    factorisations instead of five.

    With a zero ridge, more than ``CHOLESKY_RIDGES`` groups, or a shifted matrix that is not
    numerically positive definite, the whole grid comes from one eigendecomposition: with
    K = Q diag(lambda) Q^T (eigenvalues clipped at 0) and ridges r_j on n points (the
    module's convention), alpha_j = Q diag(1 / (lambda + n r_j)) Q^T y and the validation
    predictions are (K_val,train Q) diag(1 / (lambda + n r_j)) (Q^T y). A zero shifted
    eigenvalue (r_j = 0 on a singular K) gives the pseudo-inverse. It costs one
    ``torch.linalg.eigh`` (about 4 n x n matrices of memory; on CPU much slower than a
    Cholesky factorisation).

    Args:
        K_train: (n, n) symmetric PSD kernel matrix of the training points.
        y: (n,) targets.
        K_val_train: (n_val, n) kernel between validation and training points.
        ridges: sequence of ridges r_j >= 0.

    Returns:
        `RidgePath` of predictions (n_val, n_ridges) and coefficients (n, n_ridges).
    """
    n = K_train.shape[0]
    ridges = [float(r) for r in ridges]
    if min(ridges) > 0:
        groups = ridge_groups(ridges, RIDGE_GROUP_RATIO)
        if len(groups) <= CHOLESKY_RIDGES:
            coefficients = _factored_path(K_train, y, ridges, groups)
            if coefficients is not None:
                return RidgePath(K_val_train @ coefficients, coefficients)
    eigenvalues, eigenvectors = torch.linalg.eigh(K_train)
    eigenvalues = eigenvalues.clamp_min(0.0)
    projected = eigenvectors.mT @ y  # (n,)
    shifts = torch.as_tensor(
        [n * float(r) for r in ridges], dtype=K_train.dtype, device=K_train.device
    )
    shifted = eigenvalues[:, None] + shifts[None, :]  # (n, n_ridges)
    floor = torch.finfo(K_train.dtype).eps * max(float(eigenvalues.max()), 1.0) * n
    inverse = torch.where(shifted > floor, 1.0 / shifted, torch.zeros_like(shifted))
    spectral = inverse * projected[:, None]  # (n, n_ridges)
    predictions = (K_val_train @ eigenvectors) @ spectral
    coefficients = eigenvectors @ spectral
    return RidgePath(predictions, coefficients)


def _factored_path(K, y, ridges, groups) -> torch.Tensor | None:
    """The coefficients (n, n_ridges) of `ridge_path`'s factorised branch, or None when a
    factorisation fails (a shifted matrix not numerically positive definite)."""
    n = K.shape[0]
    coefficients = K.new_empty((n, len(ridges)))
    work = torch.empty_like(K)
    y_norm = max(float(y.norm()), torch.finfo(K.dtype).tiny)

    def solve_exactly(ridge):  # on a fresh copy of K; its Cholesky factor is then work.mT
        work.copy_(K)
        return solve_psd_(work, y, n * ridge)

    for pivot, members in groups:
        exact = solve_exactly(pivot)  # the exact solution at the pivot itself
        if exact is None:
            return None
        lower = work.mT
        shifts = [n * (ridges[j] - pivot) for j in members]
        solutions, _, converged = shifted_solves(lower, y, shifts, LANCZOS_TOL, LANCZOS_MAX_ITER)
        # Relative residuals of the pivot's exact solve (column 0) and of the members.
        columns = torch.cat([exact[:, None], solutions], dim=1)
        residuals = torch.addmm(-y[:, None], K, columns)
        residuals += columns * torch.as_tensor(
            [n * pivot] + [n * ridges[j] for j in members], dtype=K.dtype, device=K.device
        )
        relative = (residuals.norm(dim=0) / y_norm).tolist()
        # An ill-conditioned K leaves residuals above RIDGE_RESIDUAL_TOL in a direct solve
        # too: a member may then have up to RIDGE_GROUP_RATIO times the pivot's.
        accepted = max(RIDGE_RESIDUAL_TOL, RIDGE_GROUP_RATIO * relative[0])
        retry = []
        for column, j in enumerate(members):
            if converged[column] and relative[column + 1] <= accepted:
                coefficients[:, j] = solutions[:, column]
            else:
                retry.append(j)
        for j in retry:  # rare: the ridge gets its own factorisation
            alpha = solve_exactly(ridges[j])
            if alpha is None:
                return None
            coefficients[:, j] = alpha
    return coefficients


def gram_lower(columns: torch.Tensor, block: int = 512) -> torch.Tensor:
    """C^T C of an (n, M) matrix, computing the blocks on and below the diagonal only.

    The (M, M) result is exactly symmetric; about half the multiply-adds of ``C.mT @ C``
    for M much larger than ``block`` (BLAS's ``syrk``, which torch does not expose).
    """
    size = columns.shape[1]
    gram = columns.new_empty((size, size))
    for start in range(0, size, block):
        stop = min(start + block, size)
        gram[start:, start:stop] = columns[:, start:].mT @ columns[:, start:stop]
        gram[start:stop, stop:] = gram[stop:, start:stop].mT
    return gram


class NystromPreconditioner:
    """Preconditioner of K + lambda I from a Nystrom approximation with M centres.

    With C = K[:, centres] (n x M), A = K[centres, centres] = R R^T and B = C R^{-T}, the
    Nystrom approximation K_M = C A^{-1} C^T = B B^T = U diag(s) U^T (U = B V s^{-1/2}
    orthonormal, n x k, from B^T B = V diag(s) V^T) gives

        P_lambda^{-1} = U diag(1 / (s + lambda)) U^T + (I - U U^T) / lambda
                      = I / lambda - B V diag(1 / (lambda (s + lambda))) V^T B^T,

    the exact inverse of K_M + lambda I. Since K_M <= K, the preconditioned matrix has its
    spectrum in [1, 1 + s_{M+1}(K) / lambda]-ish, so CG needs few iterations once M exceeds
    the number of eigenvalues of K above lambda (Frangella, Tropp & Udell 2023; Rudi et al.'s
    Falkon uses the same K_M). One factorisation serves every lambda of a ridge grid.

    The second form is what is applied: U is never formed. Building costs about 2 n M^2
    floating-point operations (the triangular solve for B, which is backward stable however
    ill-conditioned A is, and the lower half of B^T B by `gram_lower`); each
    application two products with B.

    Memory: B overwrites ``columns`` (n x M); a few M x M matrices besides.

    Args:
        columns: (n, M) tensor K[:, centres]; overwritten.
        centres: (M,) long tensor, the row indices of the centres.
        chunk: rows solved at once.
    """

    def __init__(self, columns: torch.Tensor, centres: torch.Tensor, chunk: int = 8192):
        n, size = columns.shape
        anchor = columns[centres]
        anchor = (anchor + anchor.mT) * 0.5
        eye = torch.eye(size, dtype=columns.dtype, device=columns.device)
        jitter = torch.finfo(columns.dtype).eps * max(float(anchor.diagonal().max()), 1e-300)
        while True:
            factor, info = torch.linalg.cholesky_ex(anchor + jitter * size * eye)
            if int(info) == 0:
                break
            jitter *= 10.0
        for start in range(0, n, chunk):  # B = C R^{-T}
            rows = columns[start : start + chunk]
            rows.copy_(torch.linalg.solve_triangular(factor, rows.mT, upper=False).mT)
        values, vectors = torch.linalg.eigh(gram_lower(columns))  # B^T B = V diag(s) V^T
        keep = values > torch.finfo(columns.dtype).eps * size * float(values.max())
        self.factor = columns  # B
        self.vectors = vectors[:, keep].contiguous()
        self.eigenvalues = values[keep]

    @property
    def rank(self) -> int:
        """The rank k of the Nystrom approximation (eigenvalues above rounding)."""
        return int(self.eigenvalues.shape[0])

    def apply(self, residual: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
        """P_lambda^{-1} residual, column j with lambda = shifts[j]; residual is (n, k)."""
        projected = self.vectors.mT @ (self.factor.mT @ residual)  # (rank, k)
        scale = 1.0 / (shifts[None, :] * (self.eigenvalues[:, None] + shifts[None, :]))
        return residual / shifts - self.factor @ (self.vectors @ (scale * projected))


def conjugate_gradients(
    matvec,
    rhs: torch.Tensor,
    shifts: torch.Tensor,
    preconditioner=None,
    tol: float = 1e-8,
    max_iter: int = 1000,
):
    """Solve (K + shifts[j] I) x_j = rhs[:, j] for every column j by preconditioned CG.

    The columns are independent CG runs that share each product with K (one kernel pass per
    iteration for the whole ridge grid). A column stops moving once its relative residual
    ||r_j|| / ||rhs_j|| is at most ``tol``.

    Args:
        matvec: V -> K V for (n, k) tensors V (K symmetric positive semi-definite).
        rhs: (n, k) right-hand sides.
        shifts: (k,) positive shifts.
        preconditioner: (residual, shifts) -> approximation of (K + shift I)^{-1} residual,
            or None for plain CG.
        tol: relative residual at which a column has converged.
        max_iter: the most iterations.

    Returns:
        (solution (n, k), iterations, converged) where converged tells whether every column
        reached ``tol``.
    """
    solution = torch.zeros_like(rhs)
    residual = rhs.clone()
    norms = rhs.norm(dim=0).clamp_min(torch.finfo(rhs.dtype).tiny)
    active = residual.norm(dim=0) / norms > tol
    if not bool(active.any()):
        return solution, 0, True

    def precondition(vectors):
        return vectors.clone() if preconditioner is None else preconditioner(vectors, shifts)

    preconditioned = precondition(residual)
    direction = preconditioned.clone()
    inner = (residual * preconditioned).sum(0)
    for iteration in range(1, max_iter + 1):
        product = matvec(direction) + direction * shifts
        step = torch.where(active, inner / (direction * product).sum(0), 0.0)
        solution += step * direction
        residual -= step * product
        active = active & (residual.norm(dim=0) / norms > tol)
        if not bool(active.any()):
            return solution, iteration, True
        preconditioned = precondition(residual)
        updated = (residual * preconditioned).sum(0)
        ratio = torch.where(active, updated / inner, 0.0)  # converged columns restart at 0
        direction = preconditioned + ratio * direction
        inner = updated
    return solution, max_iter, False
