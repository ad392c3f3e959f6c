"""Dense and iterative ridge solvers against torch.linalg references."""

import math

import pytest
import torch

from hierlearn.kernels import ntk
from hierlearn.linalg import (
    RIDGE_GROUP_RATIO,
    NystromPreconditioner,
    cholesky_lower_,
    conjugate_gradients,
    ridge_groups,
    ridge_path,
    shifted_solves,
    solve_psd,
    solve_psd_,
)


def _spd(n, seed=0, rank=None):
    generator = torch.Generator().manual_seed(seed)
    factor = torch.randn(n, rank or n, generator=generator, dtype=torch.float64)
    return factor @ factor.T / n + (0.0 if rank else 0.1) * torch.eye(n, dtype=torch.float64)


@pytest.mark.parametrize(("n", "block"), [(30, 7), (64, 64), (200, 512), (301, 100)])
def test_blocked_cholesky_matches_torch_and_reads_one_triangle(n, block):
    matrix = _spd(n)
    work = matrix.clone()
    work.triu_(1).add_(torch.tril(matrix))  # start from the full matrix
    upper = torch.triu(work, 1).clone()
    assert cholesky_lower_(work, block)
    torch.testing.assert_close(torch.tril(work), torch.linalg.cholesky(matrix))
    assert torch.equal(torch.triu(work, 1), upper)  # strict upper triangle untouched


def test_blocked_cholesky_reports_indefinite_matrices():
    matrix = _spd(50)
    matrix[10, 10] = -5.0
    assert not cholesky_lower_(matrix.clone(), block=16)


def test_in_place_solve_uses_the_upper_triangle_only():
    matrix = _spd(120, seed=1)
    rhs = torch.randn(120, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    shift = 0.37
    expected = torch.linalg.solve(matrix + shift * torch.eye(120, dtype=torch.float64), rhs)
    work = torch.triu(matrix) + torch.tril(torch.full_like(matrix, float("nan")), -1)
    solution = solve_psd_(work, rhs, shift)
    torch.testing.assert_close(solution, expected)
    torch.testing.assert_close(solve_psd(matrix, rhs, shift), expected)
    two = torch.stack([rhs, 2 * rhs], 1)
    torch.testing.assert_close(solve_psd_(matrix.clone(), two, shift)[:, 1], 2 * expected)
    indefinite = matrix - 2 * torch.eye(120, dtype=torch.float64) * float(matrix.diagonal().max())
    assert solve_psd_(indefinite, rhs, 0.0) is None


def test_ridge_path_equals_one_solve_per_ridge():
    X = torch.randn(90, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    X_val = torch.randn(30, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    y = torch.sin(X[:, 0]) + X[:, 1]
    K, K_val = ntk(X, activation="tanh"), ntk(X_val, X, activation="tanh")
    ridges = [1e-4, 1e-2, 1.0]
    path = ridge_path(K, y, K_val, ridges)
    assert path.predictions.shape == (30, 3) and path.coefficients.shape == (90, 3)
    for column, ridge in enumerate(ridges):
        alpha = torch.linalg.solve(K + 90 * ridge * torch.eye(90, dtype=torch.float64), y)
        torch.testing.assert_close(path.coefficients[:, column], alpha, rtol=1e-7, atol=1e-8)
        torch.testing.assert_close(path.predictions[:, column], K_val @ alpha, rtol=1e-7, atol=1e-8)


def test_ridge_path_with_zero_ridge_is_the_pseudo_inverse():
    K = _spd(40, rank=6)
    y = K @ torch.randn(40, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    path = ridge_path(K, y, K, [0.0])
    torch.testing.assert_close(
        path.coefficients[:, 0], torch.linalg.pinv(K) @ y, rtol=1e-6, atol=1e-8
    )


def test_conjugate_gradients_solve_every_shift():
    K = _spd(150, seed=6, rank=20)
    rhs = torch.randn(150, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    rhs[:, 2] = 0.0  # a zero right-hand side stays zero
    shifts = torch.tensor([1e-3, 1e-1, 1.0], dtype=torch.float64)
    solution, iterations, converged = conjugate_gradients(
        lambda v: K @ v, rhs, shifts, tol=1e-12, max_iter=500
    )
    assert converged and iterations > 1
    for column in range(3):
        system = K + shifts[column] * torch.eye(150, dtype=torch.float64)
        expected = torch.linalg.solve(system, rhs[:, column])
        torch.testing.assert_close(solution[:, column], expected, rtol=1e-8, atol=1e-10)
    _, _, converged = conjugate_gradients(lambda v: K @ v, rhs, shifts, tol=1e-12, max_iter=2)
    assert not converged


def test_nystrom_preconditioner():
    X = torch.randn(300, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    K = ntk(X)
    shifts = torch.tensor([1e-4, 1e-2], dtype=torch.float64)
    vectors = torch.randn(300, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    # All points as centres: the preconditioner is the exact inverse.
    exact = NystromPreconditioner(K.clone(), torch.arange(300))
    product = K @ vectors + vectors * shifts
    torch.testing.assert_close(exact.apply(product, shifts), vectors, rtol=1e-6, atol=1e-6)
    # 60 centres: the inverse of K_M + lambda I, K_M = C A^+ C^T formed explicitly ...
    index = torch.randperm(300, generator=torch.Generator().manual_seed(10))[:60].sort().values
    preconditioner = NystromPreconditioner(K[:, index].clone(), index)
    columns = K[:, index]
    approximation = columns @ torch.linalg.pinv(K[index][:, index], hermitian=True) @ columns.T
    eye = torch.eye(300, dtype=torch.float64)
    for shift in (1e-2, 1.0):
        inverse = torch.linalg.inv(approximation + shift * eye)
        applied = preconditioner.apply(eye, torch.full((300,), shift, dtype=torch.float64))
        scale = float(inverse.abs().max())
        torch.testing.assert_close(applied, inverse, rtol=0, atol=1e-8 * scale)
    assert preconditioner.rank == 60
    # ... and far fewer iterations than plain CG to the same answer.
    rhs = vectors.clone()
    plain, plain_iterations, _ = conjugate_gradients(lambda v: K @ v, rhs, shifts, tol=1e-10)
    fast, fast_iterations, converged = conjugate_gradients(
        lambda v: K @ v, rhs, shifts, preconditioner.apply, tol=1e-10
    )
    assert converged and fast_iterations < plain_iterations / 3
    torch.testing.assert_close(fast, plain, rtol=1e-6, atol=1e-6)


def test_ridge_path_cholesky_grid_equals_the_eigendecomposition():
    """A short grid of positive ridges is solved by Cholesky factorisations; a grid that needs
    more than CHOLESKY_RIDGES of them (or a zero ridge) by one eigendecomposition: same
    answer."""
    from hierlearn.linalg import CHOLESKY_RIDGES, ridge_groups, ridge_path

    generator = torch.Generator().manual_seed(3)
    features = torch.randn(60, 20, generator=generator, dtype=torch.float64)
    val_features = torch.randn(15, 20, generator=generator, dtype=torch.float64)
    K, K_val = features @ features.T, val_features @ features.T
    y = torch.randn(60, generator=generator, dtype=torch.float64)
    short = [1e-6, 1e-3, 1e-1]
    # Ridges 1e5 apart need a factorisation each: more than CHOLESKY_RIDGES force eigh.
    padded = short + [10.0 ** (3 - 5 * k) for k in range(CHOLESKY_RIDGES + 2)]
    assert len(ridge_groups(padded)) > CHOLESKY_RIDGES
    by_cholesky = ridge_path(K, y, K_val, short)
    by_eigh = ridge_path(K, y, K_val, padded)
    torch.testing.assert_close(by_cholesky.coefficients, by_eigh.coefficients[:, :3])
    torch.testing.assert_close(by_cholesky.predictions, by_eigh.predictions[:, :3])
    direct = torch.linalg.solve(K + 60 * 1e-3 * torch.eye(60, dtype=torch.float64), y)
    torch.testing.assert_close(by_cholesky.coefficients[:, 1], direct)


def test_cached_kernel_products_equal_uncached_ones_and_skip_evaluations():
    """A BlockCache keeps the blocks that fit; products with it equal those without, bit for
    bit, whether it holds every block, some or none, and held blocks are not evaluated again."""
    from hierlearn.kernels import InfiniteWidthKernel, blocks

    X = torch.randn(230, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    kernel = InfiniteWidthKernel("ntk", memory_budget=200_000)
    points = kernel.prepare(X)
    calls = []
    evaluate = kernel.evaluator(points, points)

    def counted(rows, cols, out=None):
        calls.append((rows.start, cols.start))
        return evaluate(rows, cols, out)

    vectors = torch.randn(230, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    plain = blocks.symmetric_product(counted, 230, vectors, kernel.entries)
    per_product = len(calls)
    assert per_product > 3
    torch.testing.assert_close(plain, kernel.matrix(X) @ vectors, rtol=1e-12, atol=1e-12)
    for capacity in (0, 100_000, 10**9):
        cache = blocks.BlockCache(capacity)
        calls.clear()
        first = blocks.symmetric_product(counted, 230, vectors, kernel.entries, cache)
        second = blocks.symmetric_product(counted, 230, vectors, kernel.entries, cache)
        assert torch.equal(first, plain) and torch.equal(second, plain)
        assert len(calls) == 2 * per_product - len(cache)
        assert cache.used * 8 <= capacity
    assert len(cache) == per_product  # the large cache holds every block


PRESET_RIDGES = [1e-10, 1e-8, 1e-6, 1e-4, 1e-2]


def test_ridge_groups_cover_the_grid_with_members_near_their_pivot():
    groups = ridge_groups(PRESET_RIDGES)
    assert [[PRESET_RIDGES[j] for j in members] for _, members in groups] == [
        [1e-10, 1e-8, 1e-6],
        [1e-4, 1e-2],
    ]
    assert [pivot for pivot, _ in groups] == pytest.approx([1e-8, 1e-3], rel=1e-12)
    shuffled = [1.0, 3e-5, 0.5, 2e-3, 1e-9, 1e-9, 7e-1]
    groups = ridge_groups(shuffled)
    assert sorted(j for _, members in groups for j in members) == list(range(len(shuffled)))
    for pivot, members in groups:
        for j in members:
            ratio = shuffled[j] / pivot
            assert 1 / RIDGE_GROUP_RATIO <= ratio <= RIDGE_GROUP_RATIO * (1 + 1e-12)
    assert len(ridge_groups([1e-10, 1e-5, 1.0])) == 3  # 1e5 apart: one each


def _ill_conditioned(n, seed):
    """A symmetric PSD matrix with eigenvalues from 1e-9 to 1e2 (random eigenvectors)."""
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    values = torch.logspace(-9, 2, n, dtype=torch.float64)
    return (q * values) @ q.mT, generator


def test_shifted_solves_from_one_factor_equal_direct_solves_for_both_signs():
    """One Cholesky factor of K + mu I and one Lanczos run solve K + (mu + c) I for shifts
    c above and below 0, to the tolerance, within the step bound of a condition number 100."""
    n, mu = 200, 1e-3
    K, generator = _ill_conditioned(n, 0)
    y = torch.randn(n, generator=generator, dtype=torch.float64)
    eye = torch.eye(n, dtype=torch.float64)
    lower = torch.linalg.cholesky(K + mu * eye)
    shifts = [-0.99 * mu, -0.5 * mu, 9 * mu, 99 * mu]
    solutions, steps, converged = shifted_solves(lower, y, shifts, tol=1e-12)
    assert all(converged)
    assert steps <= 10 * math.log(2e12) / 2 + 10
    for column, c in enumerate(shifts):
        matrix = K + (mu + c) * eye
        expected = torch.linalg.solve(matrix, y)
        residual = (matrix @ solutions[:, column] - y).norm() / y.norm()
        direct = (matrix @ expected - y).norm() / y.norm()  # up to 2e-10 at condition 1e7
        assert residual <= 10 * direct + 1e-12
        # norm-wise, as the solutions' own error allows at condition numbers up to 1e7
        assert (solutions[:, column] - expected).norm() <= 1e-7 * expected.norm()
    zero, steps, converged = shifted_solves(lower, torch.zeros(n, dtype=torch.float64), shifts)
    assert steps == 0 and all(converged) and not zero.any()


def test_factored_ridge_path_equals_one_cholesky_per_ridge_on_a_relu_ntk():
    """The presets' ridge grid on a relu NTK: two factorisations and Lanczos give what one
    Cholesky solve per ridge gives (coefficients and validation predictions)."""
    generator = torch.Generator().manual_seed(8)
    X = torch.randn(400, 6, generator=generator, dtype=torch.float64)
    X_val = torch.randn(50, 6, generator=generator, dtype=torch.float64)
    y = X[:, 0] ** 2 - 1 + 0.1 * torch.randn(400, generator=generator, dtype=torch.float64)
    K, K_val = ntk(X, activation="relu"), ntk(X_val, X, activation="relu")
    path = ridge_path(K, y, K_val, PRESET_RIDGES)
    for column, ridge in enumerate(PRESET_RIDGES):
        alpha = solve_psd_(K.clone(), y, 400 * ridge)
        torch.testing.assert_close(path.coefficients[:, column], alpha, rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(path.predictions[:, column], K_val @ alpha)


def test_ridge_path_factorises_a_ridge_whose_lanczos_run_stops_short(monkeypatch):
    """A Lanczos run cut at one step leaves the ridges away from its pivot unconverged: each is
    then solved by a factorisation of its own, bit for bit the single-ridge Cholesky solve
    (1e-8 is the first group's pivot, where one step is exact)."""
    import hierlearn.linalg as linalg

    K, generator = _ill_conditioned(150, 1)
    y = torch.randn(150, generator=generator, dtype=torch.float64)
    lower = torch.linalg.cholesky(K + 150 * 1e-8 * torch.eye(150, dtype=torch.float64))
    assert not any(shifted_solves(lower, y, [150 * (1e-6 - 1e-8)], max_iter=1)[2])
    monkeypatch.setattr(linalg, "LANCZOS_MAX_ITER", 1)
    path = ridge_path(K, y, K, PRESET_RIDGES)
    for column, ridge in enumerate(PRESET_RIDGES):
        direct = solve_psd_(K.clone(), y, 150 * ridge)
        if ridge == 1e-8:
            torch.testing.assert_close(path.coefficients[:, column], direct)
        else:  # its own factorisation, exactly
            assert torch.equal(path.coefficients[:, column], direct)
