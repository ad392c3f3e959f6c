"""QuadraticFormRegressor (Quad-infinity, docs/quadratic-form.md): the convex program in A
against independent references, its two solvers against each other, recovery of a low-rank
quadratic, the penalty path, the exact Taylor penalty against trained quadratic models."""

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

from hierlearn import QuadraticTaylorRegressor
from hierlearn.estimators import QuadraticFormRegressor
from hierlearn.estimators.quadratic_form import taylor_shrink


def _data(n=60, d=5, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    beta = rng.standard_normal(d)
    beta /= np.linalg.norm(beta)
    y = (X @ beta) ** 2 - 1 + noise * rng.standard_normal(n)
    return X, y, beta


def _augmented(X, bias=1.0):
    return np.hstack([X, np.full((len(X), 1), bias)])


def _nuclear_objective(U, y, A, reg):
    prediction = np.einsum("ij,jk,ik->i", U, A, U)
    return np.mean((y - prediction) ** 2) + reg * np.abs(np.linalg.eigvalsh(A)).sum()


def _A(model):
    return model.A_.cpu().numpy()


def _reference_proximal_gradient(U, y, reg, iterations):
    """Plain (unaccelerated) proximal gradient in numpy, exact Lipschitz constant."""
    n, D = U.shape
    features = np.einsum("ij,ik->ijk", U, U).reshape(n, D * D)  # vec(u u^T)
    lipschitz = 2.0 / n * np.linalg.eigvalsh(features.T @ features)[-1]
    step = 1.0 / lipschitz
    A = np.zeros((D, D))
    for _ in range(iterations):
        residual = y - features @ A.reshape(-1)
        G = (-2.0 / n * features.T @ residual).reshape(D, D)
        values, vectors = np.linalg.eigh(A - step * (G + G.T) / 2)
        values = np.sign(values) * np.maximum(np.abs(values) - step * reg, 0.0)
        A = (vectors * values) @ vectors.T
    return A


# ---------------------------------------------------------------- the proximal solver


def test_reg_zero_is_least_squares_on_the_symmetric_features():
    X, y, _ = _data()
    U = _augmented(X)
    D = U.shape[1]
    rows, cols = np.triu_indices(D)
    # u^T A u = sum_i A_ii u_i^2 + 2 sum_{i<j} A_ij u_i u_j: linear in vech(A).
    features = U[:, rows] * U[:, cols] * np.where(rows == cols, 1.0, 2.0)
    coefficients, *_ = np.linalg.lstsq(features, y, rcond=None)
    expected = np.zeros((D, D))
    expected[rows, cols] = coefficients
    expected = expected + np.triu(expected, 1).T
    least_squares = np.mean((y - features @ coefficients) ** 2)

    model = QuadraticFormRegressor(0.0, solver="proximal", tol=1e-8).fit(X, y)
    assert model.converged_
    assert model.objective_ == pytest.approx(least_squares, rel=1e-6)
    np.testing.assert_allclose(_A(model), expected, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("reg", [1e-3, 3e-2, 0.3])
def test_proximal_objective_equals_a_long_plain_proximal_gradient_run(reg):
    X, y, _ = _data()
    U = _augmented(X)
    reference = _reference_proximal_gradient(U, y, reg, 20000)
    model = QuadraticFormRegressor(reg, solver="proximal").fit(X, y)
    assert model.converged_
    expected = _nuclear_objective(U, y, reference, reg)
    assert model.objective_ == pytest.approx(_nuclear_objective(U, y, _A(model), reg), rel=1e-12)
    assert model.objective_ == pytest.approx(expected, rel=1e-6)
    assert model.objective_ <= expected * (1 + 1e-9)  # the reference is not better
    np.testing.assert_allclose(_A(model), reference, atol=1e-4 * np.abs(reference).max())


def test_the_solution_satisfies_the_subgradient_optimality_condition():
    # 0 in G + reg dnorm(A): G = -reg on A's positive eigenspace, +reg on its negative one,
    # no cross terms, and reg W with ||W||_op <= 1 on the null space.
    X, y, _ = _data()
    reg = 0.3
    model = QuadraticFormRegressor(reg, solver="proximal", tol=1e-10).fit(X, y)
    A = _A(model)
    U = _augmented(X)
    residual = y - np.einsum("ij,jk,ik->i", U, A, U)
    G = -2.0 / len(y) * U.T @ (residual[:, None] * U)
    values, vectors = np.linalg.eigh(A)
    cutoff = 1e-8 * np.abs(values).max()
    positive, negative = vectors[:, values > cutoff], vectors[:, values < -cutoff]
    null = vectors[:, np.abs(values) <= cutoff]
    assert positive.shape[1] >= 1 and null.shape[1] >= 1  # the condition has content
    assert model.rank_ == positive.shape[1] + negative.shape[1] < U.shape[1]
    np.testing.assert_allclose(
        positive.T @ G @ positive, -reg * np.eye(positive.shape[1]), atol=1e-5
    )
    np.testing.assert_allclose(
        negative.T @ G @ negative, reg * np.eye(negative.shape[1]), atol=1e-5
    )
    ranged = np.hstack([positive, negative])
    np.testing.assert_allclose(ranged.T @ G @ null, 0.0, atol=1e-5)
    np.testing.assert_allclose(positive.T @ G @ negative, 0.0, atol=1e-5)
    assert np.abs(np.linalg.eigvalsh(null.T @ G @ null)).max() <= reg * (1 + 1e-5)


def test_a_penalty_above_the_gradient_norm_at_zero_gives_zero():
    X, y, _ = _data()
    U = _augmented(X)
    spectral = np.abs(np.linalg.eigvalsh(-2.0 / len(y) * U.T @ (y[:, None] * U))).max()
    for solver in ("proximal", "factored", "admm"):
        model = QuadraticFormRegressor(1.01 * spectral, solver=solver).fit(X, y)
        assert model.converged_ and model.rank_ == 0
        assert np.all(_A(model) == 0.0)
        assert model.objective_ == pytest.approx(np.mean(y**2), rel=1e-12)
    # Just below the threshold the solution is not zero.
    model = QuadraticFormRegressor(0.9 * spectral, solver="proximal").fit(X, y)
    assert model.rank_ >= 1


# ---------------------------------------------------------------- ADMM


@pytest.mark.parametrize("penalty", ["nuclear", "taylor"])
@pytest.mark.parametrize("reg", [1e-3, 1e-2, 0.1])
@pytest.mark.parametrize("n", [12, 60])  # n <= D'(D'+1)/2 = 21 (the kernel side) and n > 21
def test_admm_equals_the_proximal_solver(penalty, reg, n):
    X, y, _ = _data(n=n)
    proximal = QuadraticFormRegressor(
        reg, penalty=penalty, solver="proximal", tol=1e-7, max_iter=50000
    ).fit(X, y)
    admm = QuadraticFormRegressor(reg, penalty=penalty, solver="admm", tol=1e-7).fit(X, y)
    assert proximal.converged_ and admm.converged_
    assert admm.solver_ == "admm"
    assert admm.objective_ == pytest.approx(proximal.objective_, rel=1e-6)
    U = _augmented(X)
    if penalty == "nuclear":
        assert admm.objective_ == pytest.approx(_nuclear_objective(U, y, _A(admm), reg), rel=1e-12)
    scale = np.abs(_A(proximal)).max()
    np.testing.assert_allclose(_A(admm), _A(proximal), atol=1e-4 * scale)


@pytest.mark.parametrize("n", [12, 60])
def test_the_admm_linear_system_is_solved_exactly(n):
    # (c M^* M + rho I) A = V, c = 2/n: by Woodbury on the n x n kernel (u_i . u_j)^2 when
    # n <= 21 = D'(D'+1)/2, on the 21 x 21 Gram matrix of the symmetric features otherwise.
    from hierlearn.estimators.quadratic_form import _ADMMSystem, _Problem

    X, y, _ = _data(n=n)
    U = torch.as_tensor(_augmented(X))
    problem = _Problem(U, torch.as_tensor(y))
    system = _ADMMSystem(problem)
    assert system.dual_side == (n <= 21)
    V = torch.as_tensor(np.random.default_rng(n).standard_normal((6, 6)))
    V = V + V.T
    for rho in (1e-3, 0.8, 50.0):
        A = system.solve(V, rho)
        assert torch.equal(A, A.T)
        image = system.c * problem.adjoint(problem.predict(A)) + rho * A
        assert float((image - V).norm() / V.norm()) < 1e-9  # rounding: 2e-12 at rho 1e-3


def test_admm_at_reg_zero_is_least_squares():
    X, y, _ = _data(n=60)
    U = _augmented(X)
    D = U.shape[1]
    rows, cols = np.triu_indices(D)
    features = U[:, rows] * U[:, cols] * np.where(rows == cols, 1.0, 2.0)
    coefficients, *_ = np.linalg.lstsq(features, y, rcond=None)
    least_squares = np.mean((y - features @ coefficients) ** 2)
    model = QuadraticFormRegressor(0.0, solver="admm", tol=1e-8).fit(X, y)
    assert model.converged_
    assert model.objective_ == pytest.approx(least_squares, rel=1e-6)


def test_admm_on_heavy_tailed_whitened_features_with_a_large_bias():
    # The setting of the presets: whitened He_2 features of gaussian x (fourth moments far
    # above gaussian ones) and input_bias sqrt(D) (the bias entry's curvature D^2 / 2 times
    # the others'), where the proximal solver needs thousands of iterations.
    from hierlearn import RandomNetworkRepresentation

    rng = np.random.default_rng(3)
    d = 6
    X = rng.standard_normal((150, d))
    beta = np.ones(d) / math.sqrt(d)
    t = X @ beta
    y = (t**4 - 6 * t**2 + 3) / math.sqrt(24)
    Z = RandomNetworkRepresentation(
        width=21, activation="hermite-2", n_unlabeled=4000, random_state=0
    ).fit_transform(X)
    bias = math.sqrt(21)
    proximal = QuadraticFormRegressor(
        1e-2, input_bias=bias, solver="proximal", tol=1e-8, max_iter=100000
    ).fit(Z, y)
    admm = QuadraticFormRegressor(1e-2, input_bias=bias, solver="admm", tol=1e-8).fit(Z, y)
    assert proximal.converged_ and admm.converged_
    assert admm.objective_ == pytest.approx(proximal.objective_, rel=1e-6)
    assert admm.n_iter_ < proximal.n_iter_ / 5


# ---------------------------------------------------------------- the factored solver


@pytest.mark.parametrize("penalty", ["nuclear", "taylor"])
@pytest.mark.parametrize("reg", [1e-3, 1e-2, 0.1])
def test_factored_solver_equals_the_proximal_one(penalty, reg):
    X, y, _ = _data()
    proximal = QuadraticFormRegressor(reg, penalty=penalty, solver="proximal").fit(X, y)
    with warnings.catch_warnings():
        # At small reg the factored certificate bottoms out near tol (see the docstring).
        warnings.simplefilter("ignore", ConvergenceWarning)
        factored = QuadraticFormRegressor(
            reg, penalty=penalty, solver="factored", max_iter=1000
        ).fit(X, y)
    assert proximal.converged_ and factored.residual_ < 1e-4
    assert (proximal.solver_, factored.solver_) == ("proximal", "factored")
    assert factored.objective_ == pytest.approx(proximal.objective_, rel=1e-6)
    scale = np.abs(_A(proximal)).max()
    np.testing.assert_allclose(_A(factored), _A(proximal), atol=1e-4 * scale)
    assert factored.rank_ == proximal.rank_


def test_factored_solver_respects_max_rank():
    X, y, _ = _data()
    with pytest.warns(ConvergenceWarning, match="factored solver stopped"):
        model = QuadraticFormRegressor(1e-3, solver="factored", max_rank=1).fit(X, y)
    assert not model.converged_  # the solution's rank is above 1
    values = np.linalg.eigvalsh(_A(model))
    assert (values > 1e-10).sum() <= 1 and (values < -1e-10).sum() <= 1


# ---------------------------------------------------------------- learning


@pytest.mark.parametrize(
    ("solver", "reg", "bound"), [("proximal", 1e-4, 1e-7), ("factored", 1e-2, 1e-3)]
)
def test_a_rank_one_quadratic_is_recovered(solver, reg, bound):
    d = 10
    X, y, beta = _data(n=200, d=d, noise=0.0, seed=1)  # n = 4 d^2 / 2
    with warnings.catch_warnings():
        # The factored certificates lag its objective (measured: residual 2e-4 after 2,000
        # iterations, objective within 1e-10 of the proximal solver's).
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = QuadraticFormRegressor(reg, solver=solver, max_iter=2000).fit(X, y)
    assert model.residual_ < 1e-3
    reference = QuadraticFormRegressor(reg, solver="proximal").fit(X, y)
    assert reference.converged_
    assert model.objective_ == pytest.approx(reference.objective_, rel=1e-8)
    X_test, _, _ = _data(n=2000, d=d, seed=2)
    y_test = (X_test @ beta) ** 2 - 1
    error = np.mean((model.predict(X_test) - y_test) ** 2) / np.mean(y_test**2)
    assert error < bound  # measured 6.7e-9 and 6.0e-5
    # The target's matrix has eigenvalues 1 (beta) and -1 (the bias coordinate); the penalty
    # shrinks them by about reg and leaves small eigenvalues of order reg / 10.
    values = np.linalg.eigvalsh(_A(model))
    assert values[-1] == pytest.approx(1.0, abs=2 * reg) and values[0] == pytest.approx(
        -1.0, abs=2 * reg
    )
    assert np.abs(values[1:-1]).max() < 0.2 * reg


def test_input_bias_zero_fits_a_homogeneous_form():
    X, y, _ = _data()
    model = QuadraticFormRegressor(1e-3, input_bias=0.0).fit(X, y)
    assert model.A_.shape == (X.shape[1], X.shape[1])
    np.testing.assert_allclose(model.predict(-X), model.predict(X), rtol=1e-12)


# ---------------------------------------------------------------- the penalty path


def test_a_reg_list_chooses_on_validation_data_and_equals_the_single_fit():
    X, y, _ = _data(n=80, noise=0.5)
    X_val, y_val, _ = _data(n=200, noise=0.5, seed=3)
    regs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    path = QuadraticFormRegressor(regs).fit(X, y, X_val=X_val, y_val=y_val)
    assert set(path.validation_errors_) == set(regs)
    errors = {
        reg: np.mean((QuadraticFormRegressor(reg).fit(X, y).predict(X_val) - y_val) ** 2)
        / np.mean(y_val**2)
        for reg in regs
    }
    assert path.reg_ == min(errors, key=errors.get)
    for reg in regs:
        assert path.validation_errors_[reg] == pytest.approx(errors[reg], rel=1e-4)
    alone = QuadraticFormRegressor(path.reg_).fit(X, y)
    assert path.converged_ and path.objective_ == pytest.approx(alone.objective_, rel=1e-6)
    np.testing.assert_allclose(path.predict(X_val), alone.predict(X_val), atol=1e-4)


def test_a_reg_list_without_validation_data_is_refused():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="reg is a list: pass X_val and y_val"):
        QuadraticFormRegressor([1e-3, 1e-2]).fit(X, y)


# ---------------------------------------------------------------- the exact Taylor penalty


def test_taylor_shrink_is_the_prox_of_its_penalty():
    rng = np.random.default_rng(4)
    for weight in (1e-3, 0.1, 3.0):
        values = rng.standard_normal(7) * 2

        def objective(x, values=values, weight=weight):
            positive, negative = np.maximum(x, 0).sum(), np.maximum(-x, 0).sum()
            return 0.5 * np.sum((x - values) ** 2) + weight * (positive**2 + negative**2) ** 2

        shrunk = taylor_shrink(values, weight)
        best = minimize(
            objective,
            values,
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 40000, "maxfev": 40000},
        )
        assert objective(shrunk) <= best.fun + 1e-10
        for _ in range(20):  # no nearby point is better
            assert objective(shrunk) <= objective(shrunk + 1e-4 * rng.standard_normal(7))


def _hadamard(size):
    matrix = np.ones((1, 1))
    while matrix.shape[0] < size:
        matrix = np.block([[matrix, matrix], [matrix, -matrix]])
    return matrix / math.sqrt(size)


def test_the_taylor_penalty_is_the_smallest_weight_penalty_representing_a():
    # A = (1/(2 sqrt m)) sum_r a_r w_r w_r^T with half the signs +1: equal row norms within each
    # sign group reach ||W||_{2,4}^8 = 64 (tr(A_+)^2 + tr(A_-)^2)^2 once m/2 >= rank(A_+-).
    rng = np.random.default_rng(5)
    D, m = 5, 16
    B = rng.standard_normal((D, D))
    A = (B + B.T) / 2
    values, vectors = np.linalg.eigh(A)
    half = m // 2
    hadamard = _hadamard(half)
    rows = []
    for sign in (1, -1):
        chosen = sign * values > 0
        factor = vectors[:, chosen] * np.sqrt(sign * values[chosen])  # A_sign = F F^T
        columns = factor @ hadamard[: chosen.sum()]  # equal norms, same F F^T
        rows.append(columns.T * math.sqrt(2 * math.sqrt(m)))
    W = np.vstack(rows)
    a = np.concatenate([np.ones(half), -np.ones(half)])
    np.testing.assert_allclose(W.T @ (a[:, None] * W) / (2 * math.sqrt(m)), A, atol=1e-12)
    norms = (W**2).sum(axis=1)
    assert np.allclose(norms[:half], norms[0]) and np.allclose(norms[half:], norms[half])
    positive, negative = values[values > 0].sum(), -values[values < 0].sum()
    bound = 64 * (positive**2 + negative**2) ** 2
    assert (norms**2).sum() ** 2 == pytest.approx(bound, rel=1e-12)
    # Any other decomposition costs more: unequal norms, or P = A_+ + C, N = A_- + C.
    perturbed = W.copy()
    perturbed[0] *= 1.1
    perturbed[1] /= 1.1
    assert ((perturbed**2).sum(axis=1) ** 2).sum() ** 2 > bound


def _taylor_objective(model, X, y):
    W = model.W_.double()
    return (
        np.mean((model.predict(X) - y) ** 2) + model.reg * float(((W * W).sum(1) ** 2).sum()) ** 2
    )


def test_trained_quadratic_taylor_models_reach_the_convex_optimum_as_width_grows():
    X, y, _ = _data(n=60, d=3, noise=0.3)
    reg = 1e-3
    convex = QuadraticFormRegressor(reg, penalty="taylor", tol=1e-10).fit(X, y)
    assert convex.converged_
    optimum = convex.objective_
    values = np.linalg.eigvalsh(_A(convex))
    # rank(A_-) >= 2: width 2 (one neuron per sign) cannot represent it.
    assert max((values > 1e-8).sum(), (values < -1e-8).sum()) >= 2
    gaps = {}
    for width in (2, 16):
        trained = QuadraticTaylorRegressor(
            width=width,
            activation="quadratic",
            reg=reg,
            optimizer="lbfgs",
            lr=1.0,
            epochs=3000,
            init_scale=0.5,
            dtype="float64",
            random_state=0,
        ).fit(X, y)
        objective = _taylor_objective(trained, X, y)
        assert objective >= optimum * (1 - 1e-9)  # the convex program is a lower bound
        gaps[width] = objective / optimum - 1
    assert gaps[2] > 1e-3
    assert gaps[16] < 1e-5


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"reg": -1.0}, "reg"),
        ({"reg": []}, "reg"),
        ({"reg": [1e-3, -1.0]}, "reg"),
        ({"reg": "big"}, "reg"),
        ({"penalty": "l1"}, "penalty"),
        ({"solver": "newton"}, "solver"),
        ({"tol": 0.0}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_rank": 0}, "max_rank"),
        ({"input_bias": -1.0}, "input_bias"),
        ({"dtype": "float16"}, "dtype"),
    ],
)
def test_bad_parameters_raise_value_errors_naming_them(params, name):
    X, y, _ = _data()
    with pytest.raises(ValueError, match=name):
        QuadraticFormRegressor(**params).fit(X, y)


def test_float32_and_the_path_record_their_results():
    X, y, _ = _data()
    model = QuadraticFormRegressor(1e-2, dtype="float32", tol=1e-3).fit(X, y)
    assert model.A_.dtype == torch.float32
    reference = QuadraticFormRegressor(1e-2).fit(X, y)
    assert model.objective_ == pytest.approx(reference.objective_, rel=1e-4)
    assert model.n_iter_ >= 1 and model.train_loss_ <= model.objective_


def test_heavy_tailed_features_do_not_certify_the_starting_point():
    """On 1e5 whitened step features the worst-case Lipschitz bound (max |u|^2 over the
    points) makes the step of the first-order residual so small that the residual read ~0
    at A = 0 and certified it after one iteration, far from the optimum (least squares on
    these features tests at 0.73 where A = 0 tests at 0.97). The duality gap decides now."""
    import hierlearn as hl

    d, n = 6, 100_000
    target = hl.LowRankPolynomial(d, 4, basis="hermite", random_state=0)
    X = hl.GaussianInputs(d).sample(n, generator=1).numpy()
    features = hl.RandomNetworkRepresentation(
        width=36, activation="step", bias_std=1.0, n_unlabeled=4000, random_state=0
    )
    Z = features.fit(X).transform(X)
    model = QuadraticFormRegressor(reg=1e-4, solver="proximal", max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Z, np.asarray(target(X)))
    assert not model.converged_ and model.n_iter_ == 30


def test_predict_through_the_eigenpairs_equals_the_dense_quadratic_form():
    X, y, _ = _data(n=200, d=20, noise=0.0, seed=1)
    model = QuadraticFormRegressor(0.3, solver="admm").fit(X, y)
    values, _ = model.eigenpairs_
    assert 2 * values.numel() < X.shape[1] + 1  # low rank: predict takes the factored form
    X_new, _, _ = _data(n=500, d=20, seed=4)
    U = _augmented(X_new)
    dense = np.einsum("ij,jk,ik->i", U, _A(model), U)
    np.testing.assert_allclose(model.predict(X_new), dense, rtol=1e-10, atol=1e-12)


def test_reg_scale_max_is_a_fraction_of_the_weight_that_zeroes_A():
    X, y, _ = _data(n=80, d=4, noise=0.5, seed=3)
    X_val, y_val, _ = _data(n=40, d=4, noise=0.5, seed=4)
    fitted = QuadraticFormRegressor(1.0, reg_scale="max", solver="admm", tol=1e-8).fit(X, y)
    # At reg_max the minimiser is A = 0 (the gradient's spectral norm equals the weight) ...
    assert float(fitted.A_.abs().max()) < 1e-6 * fitted.reg_max_
    U = _augmented(X)
    gradient = -(2.0 / len(y)) * U.T @ (y[:, None] * U)
    assert fitted.reg_max_ == pytest.approx(np.abs(np.linalg.eigvalsh(gradient)).max(), rel=1e-10)
    # ... and just below it A is not.
    below = QuadraticFormRegressor(0.9, reg_scale="max", solver="admm", tol=1e-8).fit(X, y)
    assert float(below.A_.abs().max()) > 1e-3
    # A fraction f is the absolute weight f * reg_max_, on a path too.
    path = QuadraticFormRegressor([1.0, 0.1, 0.01], reg_scale="max", solver="admm", tol=1e-8)
    path.fit(X, y, X_val=X_val, y_val=y_val)
    absolute = QuadraticFormRegressor(path.reg_ * path.reg_max_, solver="admm", tol=1e-8).fit(X, y)
    assert set(path.validation_errors_) == {1.0, 0.1, 0.01}
    np.testing.assert_allclose(path.predict(X_val), absolute.predict(X_val), atol=1e-5)
    with pytest.raises(ValueError, match="reg_scale='max' needs penalty='nuclear'"):
        QuadraticFormRegressor(0.5, reg_scale="max", penalty="taylor").fit(X, y)
