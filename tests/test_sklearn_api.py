"""Scikit-learn conventions: clone, params, pipelines, grid search; and bad input."""

import numpy as np
import pytest
import sklearn
from scipy import sparse
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import hierlearn as hl
from reference import polynomial_data

ESTIMATORS = [
    lambda: hl.NTKRegressor(width=32, ridge=1e-3, random_state=0),
    lambda: hl.QuadraticTaylorRegressor(width=16, epochs=5, random_state=0),
    lambda: hl.TwoLayerRegressor(width=16, epochs=5, random_state=0),
]


def _data(n=120, d=4):
    return polynomial_data(n, d)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_clone_and_params_round_trip(make):
    estimator = make()
    params = estimator.get_params()
    copy = clone(estimator)
    assert copy.get_params() == params
    copy.set_params(width=8)
    assert copy.width == 8 and estimator.width != 8
    fitted = estimator.fit(*_data())
    assert fitted is estimator
    assert not hasattr(clone(fitted), "W_")


@pytest.mark.parametrize("make", ESTIMATORS)
def test_pipeline_with_representation(make):
    X, y = _data()
    pipeline = make_pipeline(
        hl.RandomNetworkRepresentation(width=12, activation="hermite-2", random_state=0), make()
    )
    pipeline.fit(X, y)
    prediction = pipeline.predict(X[:7])
    assert prediction.shape == (7,) and np.all(np.isfinite(prediction))


def test_grid_search_over_pipeline():
    X, y = _data(200)
    pipeline = make_pipeline(
        hl.RandomNetworkRepresentation(width=16, random_state=0),
        hl.NTKRegressor(width=32, random_state=0),
    )
    search = GridSearchCV(
        pipeline,
        {
            "ntkregressor__ridge": [1e-4, 1e-1],
            "randomnetworkrepresentation__activation": ["relu", "tanh"],
        },
        cv=2,
    ).fit(X, y)
    assert set(search.best_params_) == {
        "ntkregressor__ridge",
        "randomnetworkrepresentation__activation",
    }
    assert search.predict(X[:3]).shape == (3,)


def test_validation_data_reach_the_model_through_a_pipeline_inside_grid_search():
    """Metadata routing: X_val, transformed by the fitted representation, drives early stopping
    of the model inside every fold."""
    X, y = _data(240)
    X_val = hl.GaussianInputs(4).sample(100, 1).numpy()  # not 240 rows: not split by the folds
    y_val = hl.LowRankPolynomial(4, 2, random_state=0)(X_val)
    with sklearn.config_context(enable_metadata_routing=True):
        model = hl.QuadraticTaylorRegressor(width=16, epochs=40, random_state=0)
        pipeline = make_pipeline(
            hl.RandomNetworkRepresentation(width=12, activation="hermite-2", random_state=0),
            model.set_fit_request(X_val=True, y_val=True),
            transform_input=["X_val"],
        )
        search = GridSearchCV(pipeline, {"quadratictaylorregressor__reg": [0.0, 1e-3]}, cv=2)
        search.fit(X, y, X_val=X_val, y_val=y_val)
        representation, fitted = search.best_estimator_[0], search.best_estimator_[-1]
        # One validation error per epoch; the kept iterate is the best one on X_val.
        assert len(fitted.validation_curve_) == fitted.n_iter_ == 40
        assert fitted.best_epoch_ == 1 + int(np.argmin(fitted.validation_curve_))
        Z_val = representation.transform(X_val)
        error = np.mean((fitted.predict(Z_val) - y_val) ** 2) / np.mean(y_val**2)
        assert error == pytest.approx(fitted.validation_error_, rel=1e-4)  # float32 training


def test_without_routing_validation_data_are_refused_by_the_pipeline():
    X, y = _data(60)
    pipeline = make_pipeline(
        hl.RandomNetworkRepresentation(width=12, random_state=0),
        hl.QuadraticTaylorRegressor(width=16, epochs=3, random_state=0),
    )
    with pytest.raises(ValueError, match="X_val"):
        pipeline.fit(X, y, X_val=X, y_val=y)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        # scikit-learn's parameter validation: the parameter, the class and what it accepts.
        (
            lambda: hl.NTKRegressor(activation="swish"),
            "'activation' parameter of NTKRegressor must be a str among .*relu2.* Got 'swish'",
        ),
        (lambda: hl.NTKRegressor(ridge=-1.0), "'ridge' parameter of NTKRegressor must be"),
        (lambda: hl.NTKRegressor(solver="svd"), "'solver' parameter .* among .*'dual'"),
        (lambda: hl.NTKRegressor(width=0), "'width' parameter .* range \\[1, inf\\)"),
        (lambda: hl.QuadraticTaylorRegressor(width=0), "'width' parameter"),
        (
            lambda: hl.QuadraticTaylorRegressor(optimizer="sgd"),
            "'optimizer' parameter .* among .*'lbfgs'",
        ),
        (lambda: hl.QuadraticTaylorRegressor(lr=0.0), "'lr' parameter .* range \\(0"),
        (lambda: hl.QuadraticTaylorRegressor(reg=-1.0), "'reg' parameter .* range \\[0"),
        (lambda: hl.QuadraticTaylorRegressor(epochs=0), "'epochs' parameter"),
        (lambda: hl.TwoLayerRegressor(activation="elu"), "'activation' parameter.* Got 'elu'"),
        (lambda: hl.TwoLayerRegressor(dtype="half"), "'dtype' parameter .*'float32'"),
        (lambda: hl.TwoLayerRegressor(validation_fraction=1.5), "'validation_fraction'"),
        # Ours: conditions that involve several parameters or the model's mathematics.
        (lambda: hl.NTKRegressor(width=7), "width must be even"),
        (lambda: hl.QuadraticTaylorRegressor(width=9), "width must be even"),
        (lambda: hl.QuadraticTaylorRegressor(activation="relu"), "act'' = 0.*accepted"),
        (
            lambda: hl.QuadraticTaylorRegressor(optimizer="lbfgs", batch_size=10),
            "batch_size must be None",
        ),
    ],
)
def test_bad_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make().fit(*_data(20))


@pytest.mark.parametrize("make", ESTIMATORS)
def test_bad_data(make):
    """scikit-learn's data validation and its messages."""
    X, y = _data(30)
    bad_X = X.copy()
    bad_X[3, 1] = np.nan
    bad_y = y.copy()
    bad_y[2] = np.inf
    with pytest.raises(ValueError, match="Input X contains NaN"):
        make().fit(bad_X, y)
    with pytest.raises(ValueError, match="Input y contains infinity"):
        make().fit(X, bad_y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples: \\[30, 29\\]"):
        make().fit(X, y[:-1])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        make().fit(X[:, 0], y)
    with pytest.raises(TypeError, match="Sparse data was passed"):
        make().fit(sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="Complex data not supported"):
        make().fit(X + 1j, y)
    fitted = make().fit(X, y)
    name = type(fitted).__name__
    with pytest.raises(ValueError, match=f"X has 5 features, but {name} is expecting 4 features"):
        fitted.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="X_val has 5 features"):
        make().fit(X, y, X_val=np.zeros((3, 5)), y_val=np.zeros(3))
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        make().fit(X, y, X_val=X)


def test_theory_exponents():
    from hierlearn.theory import predicted_exponent

    assert [
        predicted_exponent(name, 4) for name in ("ntk-x", "ntk-h", "quad-x", "quad-h", "info")
    ] == [4, 4, 3, 2, 1]
    assert predicted_exponent("Quad_h", 5) == 3
    assert predicted_exponent("quad-x", 2) == 1
    with pytest.raises(ValueError, match="learner='mlp'.*accepted values"):
        predicted_exponent("mlp", 4)
    with pytest.raises(ValueError, match="p must be >= 1"):
        predicted_exponent("quad-h", 0)
