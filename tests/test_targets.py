"""Targets: exact unit second moment and orthogonality to lower degrees (Monte Carlo)."""

import math

import numpy as np
import pytest
import torch

import hierlearn as hl
from hierlearn.targets import _sphere_moment

N_MC = 400_000
# A Monte Carlo mean of a quantity with standard deviation s has error about s / sqrt(N_MC);
# 6 standard errors keeps these checks from flaking while still catching a wrong constant.
SIGMAS = 6.0


def _inputs(law, d, n, seed):
    return (
        hl.GaussianInputs(d).sample(n, seed)
        if law == "gaussian"
        else hl.SphereInputs(d).sample(n, seed)
    )


CASES = [
    ("hermite", "gaussian", 2, 1),
    ("hermite", "gaussian", 4, 3),
    ("hermite", "gaussian", [1, 3], 1),
    ("gegenbauer", "sphere", 2, 2),
    ("gegenbauer", "sphere", 4, 3),
    ("gegenbauer", "sphere", [2, 3], 1),
    ("monomial", "gaussian", 2, 2),
    ("monomial", "gaussian", [2, 4], 1),
    ("monomial", "sphere", 4, 2),
]


@pytest.mark.parametrize(("basis", "law", "degrees", "rank"), CASES)
def test_unit_second_moment(basis, law, degrees, rank):
    d = 6
    target = hl.LowRankPolynomial(d, degrees, rank=rank, basis=basis, random_state=0, inputs=law)
    values = target(_inputs(law, d, N_MC, seed=1))
    squares = values**2
    error = SIGMAS * float(squares.std()) / math.sqrt(N_MC)
    assert abs(float(squares.mean()) - 1.0) < error
    # The exact second moment that every harness error divides by (docs/theory.md §3).
    assert target.second_moment == pytest.approx(1.0, rel=1e-12)
    assert abs(float(squares.mean()) - target.second_moment) < error


@pytest.mark.parametrize(
    ("basis", "law", "degree"),
    [("hermite", "gaussian", 4), ("gegenbauer", "sphere", 3), ("gegenbauer", "sphere", 4)],
)
def test_orthogonal_to_every_lower_degree_polynomial(basis, law, degree):
    d = 5
    target = hl.LowRankPolynomial(d, degree, basis=basis, random_state=2)
    X = _inputs(law, d, N_MC, seed=3)
    values = target(X)
    beta = target.directions[0]
    generator = torch.Generator().manual_seed(4)
    other = torch.randn(d, generator=generator, dtype=torch.float64)
    # Lower-degree test polynomials: along beta, along a random direction, and mixed ones.
    tests = [torch.ones(N_MC, dtype=torch.float64)]
    for k in range(1, degree):
        tests += [(X @ beta) ** k, (X @ other) ** k, (X @ beta) ** (k - 1) * (X @ other)]
    for polynomial in tests:
        product = values * polynomial
        error = SIGMAS * float(product.std()) / math.sqrt(N_MC)
        assert abs(float(product.mean())) < error
    # ... while it does correlate with the degree-p polynomial along beta.
    top = values * (X @ beta) ** degree
    assert abs(float(top.mean())) > 10 * float(top.std()) / math.sqrt(N_MC)


def test_directions_orthonormal_and_seeded():
    target = hl.LowRankPolynomial(10, 3, rank=4, random_state=7)
    gram = target.directions @ target.directions.T
    torch.testing.assert_close(gram, torch.eye(4, dtype=torch.float64))
    again = hl.LowRankPolynomial(10, 3, rank=4, random_state=7)
    torch.testing.assert_close(target.directions, again.directions)
    other = hl.LowRankPolynomial(10, 3, rank=4, random_state=8)
    assert not torch.allclose(target.directions, other.directions)


def test_sphere_moment_matches_monte_carlo():
    d = 7
    X = hl.SphereInputs(d).sample(N_MC, 5)
    product = X[:, 0] ** 2 * X[:, 1] ** 4
    error = SIGMAS * float(product.std()) / math.sqrt(N_MC)
    assert abs(float(product.mean()) - _sphere_moment((2, 4), d)) < error


def test_numpy_in_numpy_out_and_noise():
    target = hl.LowRankPolynomial(4, 2, noise_std=0.5, random_state=0)
    X = np.random.default_rng(0).standard_normal((20_000, 4))
    clean = target(X)
    noisy = target.labels(X, generator=1)
    assert isinstance(clean, np.ndarray) and isinstance(noisy, np.ndarray)
    assert abs(float(np.std(noisy - clean)) - 0.5) < 0.02


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"basis": "legendre"}, "basis='legendre'.*accepted values"),
        ({"degrees": 0}, "degrees must be >= 1"),
        ({"degrees": [2, 3], "rank": 3}, "rank=3 does not match"),
        ({"rank": 9}, "rank must be <= d"),
        ({"basis": "hermite", "inputs": "sphere"}, "inputs='sphere'.*accepted values: 'gaussian'"),
        ({"noise_std": -1.0}, "noise_std must be >= 0"),
        ({"coefficients": [1.0, 2.0]}, "coefficients must be 1 finite numbers"),
        ({"random_state": "seven"}, "random_state must be"),
    ],
)
def test_bad_arguments(kwargs, match):
    arguments = {"d": 8, "degrees": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        hl.LowRankPolynomial(**arguments)


def test_wrong_input_shape():
    target = hl.LowRankPolynomial(4, 2, random_state=0)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 4\)"):
        target(np.zeros((3, 5)))


def test_inputs_laws():
    X = hl.SphereInputs(9).sample(100, 0)
    torch.testing.assert_close(X.norm(dim=1), torch.full((100,), 3.0, dtype=torch.float64))
    assert hl.GaussianInputs(3).sample(5, 1).shape == (5, 3)
    torch.testing.assert_close(hl.GaussianInputs(3).sample(5, 1), hl.GaussianInputs(3).sample(5, 1))
    with pytest.raises(ValueError, match="d must be >= 1"):
        hl.GaussianInputs(0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        hl.SphereInputs(3).sample(0)
