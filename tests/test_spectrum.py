"""Spectra of the infinite-width kernels on the sphere (hierlearn.kernels.spectrum)."""

import math

import numpy as np
import pytest
import torch

from hierlearn.inputs import SphereInputs
from hierlearn.kernels import KernelSpectrum, nngp, ntk, spectrum
from hierlearn.polynomials import harmonic_dimension

RELU_H = {"activation": "relu", "depth": 1, "bias_std": 1.0}


def _with_bias(X, bias):
    return torch.cat([X, torch.full((X.shape[0], 1), bias, dtype=X.dtype)], 1) if bias else X


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("ntk", {"input_bias": math.sqrt(5)}),
        ("ntk", {}),
        ("nngp", {"activation": "tanh"}),
        ("ntk", {"representation": RELU_H}),
        ("nngp", {"representation": {"activation": "erf", "depth": 2, "bias_std": 0.5}}),
    ],
)
def test_spectrum_reproduces_the_kernel_matrix(kind, options):
    d, points = 5, 40
    result = spectrum(kind, d, 60, **options)
    assert isinstance(result, KernelSpectrum)
    X = SphereInputs(d).sample(points, generator=0)
    function = ntk if kind == "ntk" else nngp
    bias = options.get("input_bias", 0.0)
    kwargs = {k: v for k, v in options.items() if k != "input_bias"}
    K = function(_with_bias(X, bias), **kwargs).numpy()
    t = np.clip((X @ X.T).numpy() / d, -1.0, 1.0)
    expansion = result.kernel(t)
    # |Q_l| <= 1 and lambda_l >= 0: the truncation error is at most the left-out trace.
    assert result.tail >= -1e-10
    assert np.abs(K - expansion).max() <= result.tail + 1e-9
    assert result.tail < 2e-2 * result.trace
    np.testing.assert_allclose(np.diag(K), result.trace, rtol=1e-12)


def test_spectrum_matches_the_eigenvalues_of_a_gram_matrix(one_thread):
    d, n = 4, 2500
    result = spectrum("ntk", d, 6, input_bias=1.0)
    X = SphereInputs(d).sample(n, generator=1)
    K = ntk(_with_bias(X, 1.0))
    empirical = np.sort(torch.linalg.eigvalsh(K / n).numpy())[::-1]
    order = np.argsort(-result.eigenvalues)[:4]  # the four largest degrees
    start = 0
    for degree in order:
        count = harmonic_dimension(d, int(degree))
        block = empirical[start : start + count]
        # Each cluster spreads by O(sqrt(N(d, l) / n)); its mean sits at lambda_l.
        assert block.mean() == pytest.approx(result.eigenvalues[degree], rel=0.03)
        np.testing.assert_allclose(block, result.eigenvalues[degree], rtol=0.25)
        start += count
    assert start == sum(harmonic_dimension(d, int(degree)) for degree in order)


def test_spectrum_conventions():
    d = 7
    linear = spectrum("linear", d, 4)
    # <x, x'> = d t: only degree 1, lambda_1 N(d, 1) = d.
    np.testing.assert_allclose(linear.eigenvalues, [0, 1, 0, 0, 0], atol=1e-12)
    np.testing.assert_array_equal(
        linear.multiplicities, [harmonic_dimension(d, k) for k in range(5)]
    )
    assert linear.trace == pytest.approx(d)
    relu = spectrum("ntk", d, 7)
    # The bias-free relu NTK has no odd degree >= 3.
    assert np.abs(relu.eigenvalues[3::2]).max() < 1e-14
    assert relu.eigenvalues[:3].min() > 0
    with pytest.raises(ValueError, match="raw inputs"):
        spectrum("ntk", d, 3, input_bias=1.0, representation=RELU_H)
    with pytest.raises(ValueError, match="kind"):
        spectrum("rbf", d, 3)


@pytest.mark.parametrize("d", [5, 64, 400])
def test_spectrum_is_exact_and_stable_in_high_dimension(d):
    # He_2 features (bias-free): Sigma_1(t) = t^2 = 1/d + (1 - 1/d) Q_2(t) exactly.
    square = spectrum("linear", d, 6, representation={"activation": "hermite-2"})
    expected = np.zeros(7)
    expected[0], expected[2] = 1 / d, (d - 1) / d
    expected /= square.multiplicities
    np.testing.assert_allclose(
        square.eigenvalues, expected, rtol=1e-10, atol=1e-14 * expected.max()
    )
    relu = spectrum("ntk", d, 6, input_bias=math.sqrt(d))
    assert np.all(np.isfinite(relu.eigenvalues))
    assert np.all(relu.eigenvalues[:5] > 0)
    assert np.all(np.diff(relu.eigenvalues[:5]) < 0)
    assert relu.trace == pytest.approx(d)  # E[step(u) step(u)] |z|^2 = (1/2) 2d
    assert 0 < relu.tail < relu.trace
