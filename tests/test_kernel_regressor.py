"""KernelRegressor: reductions to known estimators, solvers against each other, sklearn API."""

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV

from hierlearn.estimators.kernel import KernelRegressor
from hierlearn.kernels import ntk
from reference import relative_difference


def _data(n, d=5, seed=0, n_test=200):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_test, d))
    f = np.tanh(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] - 0.3 * X[:, 3] ** 2
    y = f + 0.1 * rng.standard_normal(n + n_test)
    return X[:n], y[:n], X[n:], f[n:]


def test_linear_kernel_is_ridge_regression():
    X, y, X_test, _ = _data(300, d=8)
    for ridge in (1e-4, 1e-1):
        model = KernelRegressor(kernel="linear", ridge=ridge, input_bias=0).fit(X, y)
        reference = Ridge(alpha=len(X) * ridge, fit_intercept=False).fit(X, y)
        np.testing.assert_allclose(
            model.predict(X_test), reference.predict(X_test), rtol=1e-9, atol=1e-10
        )


@pytest.mark.parametrize("budget", ["4GiB", "40MiB"])
def test_iterative_solver_matches_the_direct_one_at_n_4000(budget):
    """With 4 GiB every kernel block is cached between iterations, with 40 MiB about a third
    (and fewer Nystrom centres fit): the answer is the direct solve's either way."""
    X, y, X_test, _ = _data(4000, d=6)
    direct = KernelRegressor(activation="relu", ridge=1e-4).fit(X, y)
    iterative = KernelRegressor(
        activation="relu",
        ridge=1e-4,
        solver="iterative",
        n_centers=500,
        memory_budget=budget,
        random_state=0,
    ).fit(X, y)
    assert direct.solver_ == "cholesky" and iterative.solver_ == "iterative"
    assert 1 < iterative.n_iter_ < 200
    assert relative_difference(iterative.predict(X_test), direct.predict(X_test)) < 1e-6
    assert relative_difference(iterative.dual_coef_.numpy(), direct.dual_coef_.numpy()) < 1e-6


def test_auto_takes_the_iterative_solver_beyond_the_budget():
    X, y, X_test, _ = _data(600)
    direct = KernelRegressor(ridge=1e-3).fit(X, y)
    small = KernelRegressor(ridge=1e-3, memory_budget=2_000_000, random_state=0).fit(X, y)
    assert direct.solver_ == "cholesky" and small.solver_ == "iterative"
    assert relative_difference(small.predict(X_test), direct.predict(X_test)) < 1e-6
    with pytest.raises(ValueError, match="memory_budget"):
        KernelRegressor(solver="cholesky", memory_budget=2_000_000).fit(X, y)


def test_auto_takes_the_iterative_solver_for_a_ridge_grid_beyond_its_size(monkeypatch):
    """A grid of ridges goes iterative above AUTO_ITERATIVE_N (where the iterative solver was
    measured faster) even within the budget; a single ridge stays direct."""
    import hierlearn.estimators.kernel as kernel_module

    X, y, X_val, _ = _data(300, seed=2)
    monkeypatch.setattr(kernel_module, "AUTO_ITERATIVE_N", 299)
    grid = KernelRegressor(ridge=[1e-4, 1e-2], random_state=0).fit(X, y, X_val, y[:200])
    single = KernelRegressor(ridge=1e-4).fit(X, y)
    assert grid.solver_ == "iterative" and single.solver_ == "cholesky"
    monkeypatch.setattr(kernel_module, "AUTO_ITERATIVE_N", 300)
    assert KernelRegressor(ridge=[1e-4, 1e-2]).fit(X, y, X_val, y[:200]).solver_ == "cholesky"


def test_ridge_grid_picks_the_best_validation_ridge_and_matches_single_fits():
    X, y, X_val, f_val = _data(400, seed=1)
    ridges = [1e-5, 1e-3, 1e-1, 10.0]
    for solver in ("cholesky", "iterative"):
        model = KernelRegressor(activation="gelu", ridge=ridges, solver=solver, random_state=0).fit(
            X, y, X_val=X_val, y_val=f_val
        )
        errors = {}
        for ridge in ridges:
            single = KernelRegressor(activation="gelu", ridge=ridge).fit(X, y)
            errors[ridge] = np.mean((single.predict(X_val) - f_val) ** 2) / np.mean(f_val**2)
        assert set(model.validation_errors_) == set(ridges)
        for ridge in ridges:
            assert model.validation_errors_[ridge] == pytest.approx(errors[ridge], rel=1e-6)
        assert model.ridge_ == min(errors, key=errors.get)
        best = KernelRegressor(activation="gelu", ridge=model.ridge_).fit(X, y)
        np.testing.assert_allclose(model.predict(X_val), best.predict(X_val), rtol=1e-6, atol=1e-8)


def test_wide_ntk_regressor_converges_to_the_kernel_regressor():
    ntk_module = pytest.importorskip("hierlearn.estimators.ntk")
    X, y, X_test, _ = _data(300, seed=2)
    ridge = 1e-3
    for activation in ("relu", "tanh"):
        kernel = KernelRegressor(activation=activation, ridge=ridge).fit(X, y).predict(X_test)
        differences = []
        for width in (2**8, 2**14):
            network = ntk_module.NTKRegressor(
                width=width, activation=activation, ridge=ridge, solver="dual", random_state=3
            ).fit(X, y)
            differences.append(relative_difference(network.predict(X_test), kernel))
        assert differences[1] < differences[0] / 3, differences
        assert differences[1] < 0.03, differences


def test_ntk_h_equals_a_wide_ntk_regressor_on_raw_features_with_ridge_times_width():
    representations = pytest.importorskip("hierlearn.representations")
    ntk_module = pytest.importorskip("hierlearn.estimators.ntk")
    X, y, X_test, _ = _data(200, d=4, seed=4)
    width, ridge = 2**12, 1e-3
    spec = {"activation": "relu", "depth": 1, "bias_std": 0.5}
    kernel = KernelRegressor(activation="relu", representation=spec, ridge=ridge).fit(X, y)
    representation = representations.RandomNetworkRepresentation(
        width=width, activation="relu", bias_std=0.5, normalize="none", random_state=5
    ).fit(X)
    network = ntk_module.NTKRegressor(
        width=2**12, activation="relu", ridge=ridge * width, solver="dual", random_state=6
    )
    network.fit(representation.transform(X), y)
    predictions = network.predict(representation.transform(X_test))
    assert relative_difference(predictions, kernel.predict(X_test)) < 0.05


def test_centred_representation_and_input_bias():
    X, y, X_test, f_test = _data(300, seed=7)
    spec = {"activation": "tanh", "depth": 2, "bias_std": 0.3}
    centred = KernelRegressor(activation="relu2", representation=spec, center=True, ridge=1e-3).fit(
        X, y
    )
    # The same kernel built by hand: centring on the training inputs.
    K = ntk(X, activation="relu2", representation=spec, center=X)
    alpha = torch.linalg.solve(
        K + 300 * 1e-3 * torch.eye(300, dtype=torch.float64), torch.as_tensor(y)
    )
    K_test = ntk(X_test, X, activation="relu2", representation=spec, center=X)
    np.testing.assert_allclose(
        centred.predict(X_test), (K_test @ alpha).numpy(), rtol=1e-7, atol=1e-9
    )
    # Centring has one spelling: a "center" key in the representation is refused.
    with pytest.raises(ValueError, match="KernelRegressor\\(center=True\\)"):
        KernelRegressor(representation={**spec, "center": True}).fit(X, y)
    # input_bias="auto" (the default) is 1.0 on raw inputs.
    biased = KernelRegressor(ridge=1e-3).fit(X, y)
    ones = np.ones((len(X), 1))
    plain = KernelRegressor(ridge=1e-3, input_bias=0).fit(np.hstack([X, ones]), y)
    np.testing.assert_allclose(
        biased.predict(X_test), plain.predict(np.hstack([X_test, np.ones((200, 1))])), rtol=1e-12
    )
    assert centred.score(X_test, f_test) > 0.5


def test_sklearn_api():
    X, y, X_test, _ = _data(150, seed=8)
    model = KernelRegressor(
        activation="softplus", ridge=[1e-3, 1e-2], representation={"activation": "erf"}
    )
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    twin.set_params(ridge=0.5, kernel="nngp")
    assert twin.ridge == 0.5 and model.ridge == [1e-3, 1e-2]
    search = GridSearchCV(
        KernelRegressor(), {"ridge": [1e-4, 1e-2], "kernel": ["ntk", "nngp"]}, cv=3
    ).fit(X, y)
    assert search.best_params_["ridge"] in (1e-4, 1e-2)
    predictions = search.predict(X_test)
    assert predictions.dtype == np.float64 and predictions.shape == (200,)
    fitted = KernelRegressor(dtype="float32").fit(X, y)
    assert fitted.dual_coef_.dtype == torch.float32
    assert fitted.predict(X_test).dtype == np.float64


def test_convergence_warning_when_cg_stops_early():
    X, y, _, _ = _data(300, seed=9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = KernelRegressor(
            ridge=1e-6, solver="iterative", n_centers=5, max_iter=2, tol=1e-14, random_state=0
        ).fit(X, y)
    assert model.n_iter_ == 2
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.cuda
def test_cuda_matches_cpu():
    X, y, X_test, _ = _data(500, seed=10)
    for solver in ("cholesky", "iterative"):
        cpu = KernelRegressor(activation="tanh", ridge=1e-3, solver=solver, random_state=0)
        gpu = clone(cpu).set_params(device="cuda")
        np.testing.assert_allclose(
            gpu.fit(X, y).predict(X_test), cpu.fit(X, y).predict(X_test), rtol=1e-6, atol=1e-8
        )
        assert gpu.dual_coef_.device.type == "cuda"


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"kernel": "rbf"}, "kernel"),
        ({"activation": "sigmoid"}, "activation"),
        ({"ridge": -1.0}, "ridge"),
        ({"ridge": []}, "ridge"),
        ({"ridge": [1e-3, -2.0]}, "ridge"),
        ({"solver": "lu"}, "solver"),
        ({"memory_budget": 1000}, "memory_budget"),
        ({"memory_budget": "4 parsecs"}, "memory_budget"),
        ({"n_centers": 0}, "n_centers"),
        ({"tol": 0.0}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"representation": {"activation": "cube"}}, "activation"),
        ({"representation": {"activation": "relu", "width": 5}}, "representation"),
        ({"representation": {"activation": "relu", "center": "yes"}}, "center"),
        ({"representation": "relu"}, "representation"),
        ({"center": True}, "center needs a representation"),
        ({"representation": {"activation": "relu"}, "input_bias": 1.0}, "input_bias"),
        ({"solver": "iterative", "ridge": 0.0}, "ridge"),
        ({"device": "tpu"}, "device"),
        ({"dtype": "float16"}, "dtype"),
    ],
)
def test_bad_hyperparameters_name_themselves(params, name):
    X, y, _, _ = _data(40)
    with pytest.raises(ValueError, match=name):
        KernelRegressor(**params).fit(X, y)


def test_bad_data_is_refused():
    X, y, X_test, _ = _data(40)
    with pytest.raises(ValueError, match="X_val"):
        KernelRegressor(ridge=[1e-3, 1e-2]).fit(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        KernelRegressor().fit(X, y[:-1])
    model = KernelRegressor().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X_test[:, :3])
    bad = X.copy()
    bad[0, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        KernelRegressor().fit(bad, y)
