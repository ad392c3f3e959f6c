"""Dense linear algebra for ridge problems (float64 by default).

The convention everywhere in hierlearn: kernel ridge regression with ridge ``r`` on ``n``
training points minimises (1/n) sum_i (y_i - f(x_i))^2 + r ||f||_H^2, whose solution is
f = k(., X) alpha with alpha = (K + n r I)^{-1} y.
"""

from __future__ import annotations

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
