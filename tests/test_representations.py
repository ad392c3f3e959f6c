"""The random representation: whitening, spanning of polynomial features, checks."""

import math
import warnings

import numpy as np
import pytest
import torch

import hierlearn as hl
from hierlearn.activations import representation_activation


def _gaussian(n, d, seed):
    return hl.GaussianInputs(d).sample(n, seed).numpy()


@pytest.mark.parametrize("activation", ["relu", "tanh", "hermite-2", "step"])
def test_whitened_features_have_identity_covariance(activation):
    X = _gaussian(6000, 6, 0)
    representation = hl.RandomNetworkRepresentation(
        width=20, activation=activation, bias_std=0.5, random_state=1
    ).fit(X)
    Z = representation.transform(X)
    covariance = np.cov(Z.T, bias=True)
    assert representation.n_floored_ == 0
    np.testing.assert_allclose(covariance, np.eye(20), atol=1e-8)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-8)


def test_standardize_and_none():
    X = _gaussian(3000, 5, 0)
    standard = hl.RandomNetworkRepresentation(16, normalize="standardize", random_state=0).fit(X)
    Z = standard.transform(X)
    np.testing.assert_allclose(Z.var(axis=0), 1.0, atol=1e-8)
    raw = hl.RandomNetworkRepresentation(16, normalize="none", random_state=0).fit(X)
    H = raw.transform(X)
    V = raw.weights_[0].numpy()
    np.testing.assert_allclose(H, np.maximum(X @ V.T / math.sqrt(5), 0.0))


def test_depth_two_matches_formula():
    X = _gaussian(50, 4, 0)
    representation = hl.RandomNetworkRepresentation(
        8, depth=2, activation="tanh", bias_std=0.3, normalize="none", random_state=3
    ).fit(X)
    V1, V2 = (w.numpy() for w in representation.weights_)
    b1, b2 = (b.numpy() for b in representation.biases_)
    expected = np.tanh(np.tanh(X @ V1.T / 2.0 + b1) @ V2.T / math.sqrt(8) + b2)
    np.testing.assert_allclose(representation.transform(X), expected)


@pytest.mark.parametrize(("d", "k"), [(4, 2), (4, 3), (3, 4)])
def test_degree_k_features_span_degree_k_monomials(d, k):
    n_monomials = math.comb(d + k - 1, k)
    X = _gaussian(4 * n_monomials + 50, d, 0)
    representation = hl.RandomNetworkRepresentation(
        n_monomials + 5, activation=f"monomial-{k}", normalize="none", random_state=1
    ).fit(X)
    H = representation.transform(X)
    beta = np.random.default_rng(2).standard_normal(d)
    beta /= np.linalg.norm(beta)
    target = (X @ beta) ** k
    coefficients, *_ = np.linalg.lstsq(H, target, rcond=None)
    residual = np.linalg.norm(H @ coefficients - target) / np.linalg.norm(target)
    assert residual < 1e-6
    # Too few features cannot span them: the residual is then far from zero.
    narrow = hl.RandomNetworkRepresentation(
        n_monomials // 2, activation=f"monomial-{k}", normalize="none", random_state=1
    ).fit(X)
    H = narrow.transform(X)
    coefficients, *_ = np.linalg.lstsq(H, target, rcond=None)
    assert np.linalg.norm(H @ coefficients - target) / np.linalg.norm(target) > 1e-3


def test_whitening_with_few_samples_warns_and_floors():
    X = _gaussian(30, 4, 0)
    with pytest.warns(UserWarning, match="fewer|only 30 samples"):
        representation = hl.RandomNetworkRepresentation(64, random_state=0).fit(X)
    assert representation.n_floored_ > 0
    assert np.all(np.isfinite(representation.transform(X)))


def test_unlabeled_inputs_fit_the_normalisation():
    X = _gaussian(10, 4, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        representation = hl.RandomNetworkRepresentation(32, n_unlabeled=2000, random_state=0).fit(X)
    assert representation.n_fit_samples_ == 2000
    # The same seed gives the same weights and normalisation.
    again = hl.RandomNetworkRepresentation(32, n_unlabeled=2000, random_state=0).fit(X)
    np.testing.assert_array_equal(representation.transform(X), again.transform(X))


def test_hermite_activation_is_normalised_hermite():
    t = torch.linspace(-2, 2, 9, dtype=torch.float64)
    expected = (t**3 - 3 * t) / math.sqrt(6)
    torch.testing.assert_close(representation_activation("hermite-3")(t), expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"activation": "softmax"}, "activation='softmax'.*accepted values.*hermite-k"),
        ({"activation": "hermite-0"}, "activation='hermite-0'"),
        ({"normalize": "pca"}, "'normalize' parameter .* among .*'whiten'.* Got 'pca'"),
        ({"width": 0}, "'width' parameter .* range \\[1, inf\\)"),
        ({"depth": 0}, "'depth' parameter"),
        ({"bias_std": -0.1}, "'bias_std' parameter .* range \\[0"),
        ({"unlabeled_law": "uniform"}, "'unlabeled_law' parameter .* Got 'uniform'"),
        ({"dtype": "float16"}, "'dtype' parameter .*'float64'"),
        ({"device": "tpu"}, "device='tpu'"),
    ],
)
def test_bad_arguments_raise_on_fit(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hl.RandomNetworkRepresentation(**{"width": 8, **kwargs}).fit(_gaussian(20, 3, 0))


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.full((10, 3), np.nan), "Input X contains NaN"),
        (np.ones(10), "Expected 2D array"),
        (np.array([[1.0, np.inf, 0.0], [0.0, 1.0, 2.0]]), "Input X contains infinity"),
        (np.ones((1, 3)), "Found array with 1 sample\\(s\\).* minimum of 2"),
    ],
)
def test_bad_inputs(X, match):
    with pytest.raises(ValueError, match=match):
        hl.RandomNetworkRepresentation(8).fit(X)


def test_transform_checks_feature_count():
    representation = hl.RandomNetworkRepresentation(8, random_state=0).fit(_gaussian(50, 3, 0))
    message = "X has 4 features, but RandomNetworkRepresentation is expecting 3 features"
    with pytest.raises(ValueError, match=message):
        representation.transform(_gaussian(5, 4, 0))
    with pytest.raises(ValueError, match=message):  # a tensor too
        representation.features(torch.as_tensor(_gaussian(5, 4, 0)))


def test_linear_residual_reduces_to_the_span():
    """Whitened He_2 features span the degree-2 polynomials exactly and nothing odd."""
    from hierlearn.representations import linear_residual, whitening_error

    d = 5
    law = hl.GaussianInputs(d)
    X_fit, X_eval = law.sample(3000, generator=1).numpy(), law.sample(2000, generator=2).numpy()
    direction = np.ones(d) / np.sqrt(d)
    rep = hl.RandomNetworkRepresentation(
        width=d * d, activation="hermite-2", n_unlabeled=4000, random_state=0
    ).fit(X_fit)

    def he(k, X):
        t = X @ direction
        return {2: t**2 - 1, 3: t**3 - 3 * t}[k]

    assert linear_residual(rep, he(2, X_fit), X_fit, he(2, X_eval), X_eval) < 1e-8
    assert linear_residual(rep, he(3, X_fit), X_fit, he(3, X_eval), X_eval) > 0.95
    # Relu features with biases reach He_3 partly: strictly between the two cases.
    relu = hl.RandomNetworkRepresentation(
        width=2 * d * d, activation="relu", bias_std=1.0, n_unlabeled=4000, random_state=0
    ).fit(X_fit)
    partial = linear_residual(relu, he(3, X_fit), X_fit, he(3, X_eval), X_eval)
    assert 0.05 < partial < 0.95
    # The whitening of 4,000 points is near isotropic; of 60 points (fewer than D) it is not.
    assert whitening_error(rep, X_eval) < 0.5
    poor = hl.RandomNetworkRepresentation(width=d * d, activation="hermite-2", random_state=0)
    with pytest.warns(UserWarning, match="whitening"):
        poor.fit(X_fit[:20])
    assert whitening_error(poor, X_eval) > 1.0
