"""scikit-learn's own conformance suite over every public estimator, and batch invariance.

Small constructor arguments keep the suite fast; the checks' assertions do not depend on them.
"""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import hierlearn as hl
from hierlearn.estimators import QuadraticFormRegressor
from reference import polynomial_data

FAST = [
    hl.NTKRegressor(width=32),
    hl.QuadraticTaylorRegressor(width=32, epochs=100, lr=0.1),
    hl.TwoLayerRegressor(width=32, epochs=100, lr=0.1),
    hl.KernelRegressor(),
    hl.KernelRegressor(solver="iterative", ridge=1e-2),
    QuadraticFormRegressor(max_iter=50),
    QuadraticFormRegressor(solver="factored", max_iter=50),
    hl.RandomNetworkRepresentation(width=8),
]

# Expected failures, each with the reason (the same reason scikit-learn gives for its own
# estimators in sklearn/utils/_test_common/instance_generator.py).
EXPECTED_FAILURES = {
    ("KernelRegressor", "cholesky"): {
        "check_non_transformer_estimators_n_iter": (
            "n_iter_ can be 0: a direct (Cholesky) solve runs no iteration; max_iter bounds "
            "the iterative solver only"
        ),
    },
}


def _expected_failures(estimator):
    if isinstance(estimator, hl.KernelRegressor) and estimator.solver != "iterative":
        return EXPECTED_FAILURES[("KernelRegressor", "cholesky")]
    return {}


@parametrize_with_checks(FAST, expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ---------------------------------------------------------------- batch invariance


def _data(n=60, d=5):
    return polynomial_data(n, d)


# Every estimator predicts in float64 (float32-fitted parameters are cast), so a row alone,
# in the whole batch and in chunks agree to float64 rounding, relative to max |f|: measured
# below 1e-15, tested at 1e-12. One exception: the relu kernels on a row equal to a training
# point, where the arc-cosine of a cosine of 1 turns the 1e-16 rounding differences of
# batch-shaped matrix products into about 1e-8 (sqrt of the rounding): measured 6e-9, tested
# at float32 resolution, 1e-7.
FLOAT64_RTOL, ARCCOS_RTOL = 1e-12, 1e-7
BATCHED = [
    ("ntk", lambda: hl.NTKRegressor(width=64, random_state=0), FLOAT64_RTOL),
    (
        "ntk_float32",
        lambda: hl.NTKRegressor(width=64, dtype="float32", random_state=0),
        FLOAT64_RTOL,
    ),
    (
        "quadratic",
        lambda: hl.QuadraticTaylorRegressor(width=64, epochs=100, random_state=0),
        FLOAT64_RTOL,
    ),
    (
        "two_layer",
        lambda: hl.TwoLayerRegressor(width=64, epochs=100, random_state=0),
        FLOAT64_RTOL,
    ),
    ("quadratic_form", lambda: QuadraticFormRegressor(random_state=0), FLOAT64_RTOL),
    ("kernel", lambda: hl.KernelRegressor(random_state=0), ARCCOS_RTOL),
    ("kernel_float32", lambda: hl.KernelRegressor(dtype="float32", random_state=0), ARCCOS_RTOL),
    (
        "kernel_iterative",
        lambda: hl.KernelRegressor(solver="iterative", ridge=1e-2, random_state=0),
        ARCCOS_RTOL,
    ),
    (
        "kernel_h",
        lambda: hl.KernelRegressor(
            representation={"activation": "relu", "bias_std": 1.0}, center=True, random_state=0
        ),
        ARCCOS_RTOL,
    ),
]


def _chunked(method, X, size):
    return np.concatenate([method(X[i : i + size]) for i in range(0, len(X), size)])


def _check_batch_invariance(method, X, rtol):
    full = method(X)
    scale = np.abs(full).max()
    alone = np.concatenate([method(X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(alone, full, rtol=0, atol=rtol * scale)
    for size in (2, 7, 16):
        np.testing.assert_allclose(_chunked(method, X, size), full, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize(("name", "make", "rtol"), BATCHED, ids=[b[0] for b in BATCHED])
def test_a_row_predicts_the_same_alone_or_in_any_batch(name, make, rtol):
    X, y = _data()
    estimator = make().fit(X, y)
    _check_batch_invariance(estimator.predict, X, rtol)  # the training rows
    fresh = hl.GaussianInputs(X.shape[1]).sample(40, 1).numpy()
    _check_batch_invariance(estimator.predict, fresh, FLOAT64_RTOL)


# Features in float64: float64 rounding (measured 8e-16); in float32, the whitening product
# of float32 features: about ten float32 roundings (measured 7e-7), tested at 2e-6.
@pytest.mark.parametrize(("dtype", "rtol"), [("float64", 1e-12), ("float32", 2e-6)])
def test_representation_transform_is_batch_invariant(dtype, rtol):
    X, _ = _data()
    representation = hl.RandomNetworkRepresentation(width=16, dtype=dtype, random_state=0).fit(X)
    _check_batch_invariance(representation.transform, X, rtol)
