"""Gaussian duals E[f(u) f(u')]: closed forms and the Hermite series against independent
quadrature written here in numpy."""

import math

import numpy as np
import pytest
import torch
from scipy.special import erf, roots_legendre

from hierlearn.activations import (
    TRAINABLE_ACTIVATIONS,
    arccos_dual,
    representation_activation,
    trainable_activation,
)
from hierlearn.kernels.gaussian import expand, pair_expectation, series_block

# (sigma1, sigma2, rho): moderate, unequal, near-aligned, aligned, anti-aligned, steep.
TRIPLES = [
    (1.0, 1.0, 0.3),
    (0.7, 1.6, -0.55),
    (1.3, 0.9, 0.97),
    (1.1, 1.1, 1.0),
    (0.8, 1.4, -1.0),
    (2.5, 3.0, 0.999),
    (4.0, 1.5, 0.6),
    (5.5, 6.0, 0.92),
]


def _normal_rule(size, low, high):
    nodes, weights = roots_legendre(size)
    nodes = low + (nodes + 1.0) * (high - low) / 2.0
    weights = weights * (high - low) / 2.0 * np.exp(-(nodes**2) / 2) / math.sqrt(2 * math.pi)
    return nodes, weights


def reference_smooth(f, sigma1, sigma2, rho, size=(1200, 600)):
    """E[f(s1 s) f(s2 (rho s + sqrt(1 - rho^2) t))] by a dense 2-D Gauss-Legendre rule."""
    s, ws = _normal_rule(size[0], -11.0, 11.0)
    t, wt = _normal_rule(size[1], -11.0, 11.0)
    spread = math.sqrt(max(1.0 - rho * rho, 0.0))
    inner = f(sigma2 * (rho * s[:, None] + spread * t[None, :])) @ wt
    return float(np.sum(ws * f(sigma1 * s) * inner))


def _partial_moment(order, mean, std):
    """E[relu(mean + std t)^order] (order 0: P(mean + std t >= 0)), t ~ N(0, 1)."""
    std = np.maximum(std, 1e-150)
    z = np.clip(mean / std, -40.0, 40.0)
    cdf = 0.5 * (1 + erf(z / math.sqrt(2)))
    pdf = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    if order == 0:
        return cdf
    if order == 1:
        return mean * cdf + std * pdf
    if order == 2:
        return (mean**2 + std**2) * cdf + mean * std * pdf
    return (mean**3 + 3 * mean * std**2) * cdf + (mean**2 + 2 * std**2) * std * pdf


def reference_relu_power(order, sigma1, sigma2, rho):
    """E[relu(u)^n relu(u')^n]: inner expectation in closed form, outer by Gauss-Legendre on
    s > 0 only (relu(sigma1 s) vanishes below), where the integrand is smooth."""
    s, ws = _normal_rule(3000, 0.0, 12.0)
    spread = math.sqrt(max(1.0 - rho * rho, 0.0))
    inner = _partial_moment(order, sigma2 * rho * s, sigma2 * spread)
    return float(np.sum(ws * (sigma1 * s) ** order * inner))


def _dual(dual, sigma1, sigma2, rho):
    q1 = torch.tensor([[sigma1**2]], dtype=torch.float64)
    q2 = torch.tensor([[sigma2**2]], dtype=torch.float64)
    c = torch.tensor([[rho * sigma1 * sigma2]], dtype=torch.float64)
    return float(dual(c, q1, q2))


@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize("triple", TRIPLES[:6])
def test_arccos_dual_matches_quadrature(order, triple):
    value = _dual(arccos_dual(order), *triple)
    expected = reference_relu_power(order, *triple)
    scale = math.prod(triple[:2]) ** order
    # arccos has an infinite slope at rho = +-1: a rounding error of 1e-16 in rho becomes
    # ~1e-8 in the kernel there.
    assert abs(value - expected) <= 1e-8 * max(scale, 1.0)


def test_trainable_closed_forms_are_the_right_arccos_orders():
    # relu2 = relu^2 / 2 has act' = relu; relu3 = relu^3 / 6 has act' = relu^2 / 2.
    triple = (0.9, 1.3, 0.4)
    cases = {
        ("relu", "nngp"): reference_relu_power(1, *triple),
        ("relu", "ntk"): reference_relu_power(0, *triple),
        ("relu2", "nngp"): reference_relu_power(2, *triple) / 4,
        ("relu2", "ntk"): reference_relu_power(1, *triple),
        ("relu3", "nngp"): reference_relu_power(3, *triple) / 36,
        ("relu3", "ntk"): reference_relu_power(2, *triple) / 4,
    }
    for (name, kind), expected in cases.items():
        activation = trainable_activation(name)
        dual = activation.nngp_dual if kind == "nngp" else activation.ntk_dual
        assert _dual(dual, *triple) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("triple", TRIPLES[:6])
def test_sign_and_erf_and_quadratic_closed_forms(triple):
    sigma1, sigma2, rho = triple
    step = reference_relu_power(0, *triple)
    # sign = 2 step - 1 and E step = 1/2 for a non-degenerate Gaussian.
    assert _dual(representation_activation("sign").dual, *triple) == pytest.approx(
        4 * step - 1, abs=1e-7
    )
    assert _dual(representation_activation("erf").dual, *triple) == pytest.approx(
        reference_smooth(erf, *triple), abs=1e-9
    )
    quadratic = trainable_activation("quadratic")
    assert _dual(quadratic.nngp_dual, *triple) == pytest.approx(
        reference_smooth(lambda t: t * t / 2, *triple), rel=1e-9
    )
    assert _dual(quadratic.ntk_dual, *triple) == pytest.approx(rho * sigma1 * sigma2, rel=1e-12)


def _series_value(function, triple, degree=None):
    sigma1, sigma2, rho = triple
    points1 = expand(function, torch.tensor([sigma1**2], dtype=torch.float64), degree)
    points2 = expand(function, torch.tensor([sigma2**2], dtype=torch.float64), degree)
    rho_t = torch.tensor([[rho]], dtype=torch.float64)
    value = float(series_block(rho_t, points1, points2, function))
    scale = math.sqrt(float(points1.second_moment[0]) * float(points2.second_moment[0]))
    return value, scale


SMOOTH = {
    "tanh": trainable_activation("tanh").act,
    "tanh'": trainable_activation("tanh").d1,
    "softplus": trainable_activation("softplus").act,
    "softplus'": trainable_activation("softplus").d1,
    "gelu": trainable_activation("gelu").act,
    "gelu'": trainable_activation("gelu").d1,
}
NUMPY_SMOOTH = {
    "tanh": np.tanh,
    "tanh'": lambda t: 1 - np.tanh(t) ** 2,
    "softplus": lambda t: np.logaddexp(0.0, t),
    "softplus'": lambda t: 1 / (1 + np.exp(-t)),
    "gelu": lambda t: t * 0.5 * (1 + erf(t / math.sqrt(2))),
    "gelu'": lambda t: (
        0.5 * (1 + erf(t / math.sqrt(2))) + t * np.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    ),
}


@pytest.mark.parametrize("name", list(SMOOTH))
def test_hermite_series_matches_independent_quadrature(name):
    """Accurate to well under 1e-6 (here 1e-8) relative to the kernel scale, sigma up to 6."""
    for triple in TRIPLES:
        value, scale = _series_value(SMOOTH[name], triple)
        expected = reference_smooth(NUMPY_SMOOTH[name], *triple)
        assert abs(value - expected) <= 1e-8 * scale, (name, triple, value, expected)


@pytest.mark.parametrize("degree", [1, 2, 3, 5])
def test_polynomials_are_exact(degree):
    hermite = representation_activation(f"hermite-{degree}")
    monomial = representation_activation(f"monomial-{degree}")
    # Unit variances: E[h_k(u) h_k(u')] = rho^k exactly (Mehler).
    for rho in (-0.8, 0.1, 0.65, 1.0):
        value, _ = _series_value(hermite, (1.0, 1.0, rho), degree)
        assert value == pytest.approx(rho**degree, abs=1e-13)
    # Any variances, against the dense rule (polynomials are smooth).
    for triple in TRIPLES[:5]:
        for function, numpy_function in (
            (monomial, lambda t: t**degree),
            (
                hermite,
                lambda t: (
                    np.polynomial.hermite_e.hermeval(t, [0] * degree + [1])
                    / math.sqrt(math.factorial(degree))
                ),
            ),
        ):
            value, scale = _series_value(function, triple, degree)
            expected = reference_smooth(numpy_function, *triple, size=(400, 400))
            assert abs(value - expected) <= 1e-11 * scale


def test_pair_rule_on_aligned_and_unaligned_pairs():
    function = SMOOTH["tanh'"]
    sigma1 = torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)
    sigma2 = torch.tensor([2.0, 3.0, 0.8], dtype=torch.float64)
    rho = torch.tensor([0.95, 1.0, -1.0], dtype=torch.float64)
    values = pair_expectation(function, sigma1, sigma2, rho)
    for index in range(3):
        triple = (float(sigma1[index]), float(sigma2[index]), float(rho[index]))
        expected = reference_smooth(NUMPY_SMOOTH["tanh'"], *triple)
        assert float(values[index]) == pytest.approx(expected, abs=1e-9)


def test_every_trainable_activation_has_a_dual_or_a_series():
    for name in TRAINABLE_ACTIVATIONS:
        activation = trainable_activation(name)
        closed = activation.nngp_dual is not None
        assert closed == (activation.ntk_dual is not None), name
    assert representation_activation("tanh").dual is None
    assert representation_activation("hermite-2").dual is None
