"""Candidates of one tuning search trained as one batch (hierlearn.estimators._batched): each
ends exactly where its own fit ends."""

import numpy as np
import pytest
import torch

from hierlearn import QuadraticTaylorRegressor
from hierlearn.estimators._batched import can_batch, fit_candidates
from hierlearn.exceptions import DivergenceError

CANDIDATES = [
    {"activation": activation, "reg": reg}
    for activation in ("quadratic", "relu2", "relu3")
    for reg in (0.0, 1e-5, 1e-3)
]


def _data(n=120, d=4, seed=0):
    rng = np.random.default_rng(seed)
    beta = np.ones(d) / np.sqrt(d)

    def sample(size):
        X = rng.standard_normal((size, d))
        t = X @ beta
        return X, (t**4 - 6 * t**2 + 3) / np.sqrt(24) + 0.1 * rng.standard_normal(size)

    return (*sample(n), *sample(n // 4))


def _base(**changes):
    params = dict(
        width=32,
        optimizer="adam",
        lr=0.2,
        epochs=300,
        eval_every=5,
        n_iter_no_change=6,
        tol=0.01,
        input_bias=2.0,
        random_state=3,
    )
    return {**params, **changes}


def _separately(candidates, data, **changes):
    X, y, X_val, y_val = data
    fitted = []
    for candidate in candidates:
        estimator = QuadraticTaylorRegressor(**_base(**changes), **candidate)
        try:
            fitted.append(estimator.fit(X, y, X_val=X_val, y_val=y_val))
        except DivergenceError as error:
            fitted.append(error)
    return fitted


@pytest.mark.parametrize(
    ("dtype", "max_entries"),  # one batch, or groups of one candidate
    [("float64", 2**26), ("float32", 2**26), ("float64", 1)],
)
def test_batched_candidates_end_exactly_where_their_own_fits_end(one_thread, dtype, max_entries):
    # The same updates in the same order: the weights agree to the last bits (a batched matrix
    # product may round its sums differently from a single one), so every discrete decision -
    # the kept iterate, the stopping epoch, the plateau flag - is the same.
    data = _data()
    rtol = 1e-10 if dtype == "float64" else 1e-5
    expected = _separately(CANDIDATES, data, dtype=dtype)
    batch = [QuadraticTaylorRegressor(**_base(dtype=dtype), **c) for c in CANDIDATES]
    outcome = fit_candidates(batch, *data, max_entries=max_entries)
    assert outcome == [None] * len(CANDIDATES)
    stops = set()
    for alone, together in zip(expected, batch, strict=True):
        assert torch.equal(alone.W0_, together.W0_) and torch.equal(alone.a_, together.a_)
        np.testing.assert_allclose(alone.W_.numpy(), together.W_.numpy(), rtol=rtol, atol=0)
        for name in ("best_epoch_", "n_epochs_", "converged_"):
            assert getattr(alone, name) == getattr(together, name), name
        for name in ("loss_curve_", "validation_curve_"):
            np.testing.assert_allclose(getattr(alone, name), getattr(together, name), rtol=rtol)
        for name in ("train_loss_", "validation_error_"):
            assert getattr(alone, name) == pytest.approx(getattr(together, name), rel=rtol)
        np.testing.assert_allclose(
            alone.predict(data[2]), together.predict(data[2]), rtol=rtol, atol=1e-12
        )
        stops.add(together.n_epochs_)
    assert len(stops) > 1  # the candidates left the batch at different epochs


def test_a_diverging_candidate_fails_alone_and_the_others_are_unchanged(one_thread):
    data = _data()
    candidates = [{"activation": "relu3", "reg": 0.0}, {"activation": "quadratic", "reg": 0.0}]
    changes = {"lr": 50.0, "dtype": "float64"}
    expected = _separately(candidates, data, **changes)
    batch = [QuadraticTaylorRegressor(**_base(**changes), **c) for c in candidates]
    outcome = fit_candidates(batch, *data)
    for alone, together, error in zip(expected, batch, outcome, strict=True):
        if isinstance(alone, DivergenceError):
            assert isinstance(error, DivergenceError) and str(error) == str(alone)
            assert not hasattr(together, "W_")
        else:
            assert error is None
            np.testing.assert_allclose(alone.W_.numpy(), together.W_.numpy(), rtol=1e-10)
    assert any(isinstance(e, DivergenceError) for e in expected)  # the case has content


def test_only_candidates_that_differ_in_activation_and_penalty_are_batched():
    def make(**changes):
        return QuadraticTaylorRegressor(**_base(**changes))

    assert can_batch([make(activation="relu2"), make(activation="relu3", reg=1e-4)])
    assert not can_batch([make()])  # one candidate: nothing to batch
    assert not can_batch([make(), make(width=64)])
    assert not can_batch([make(optimizer="lbfgs"), make(optimizer="lbfgs")])
    assert not can_batch([make(batch_size=16), make(batch_size=16)])
    assert not can_batch([make(randomized=True), make(randomized=True)])
    with pytest.raises(ValueError, match="differ only in activation, reg"):
        fit_candidates([make(), make(width=64)], *_data())
