"""Spectra of the infinite-width kernels for inputs uniform on the sphere (docs/theory.md,
"Predicted kernel learning curves").

For x, x' on the sphere of radius sqrt(d), every kernel of `hierlearn.kernels.analytic`
- NTK, NNGP or linear, of any trainable activation, with a first-layer input bias b (a
constant coordinate appended to x, as [`KernelRegressor`][hierlearn.KernelRegressor] does) or
composed
with an infinite-width random representation of any depth - depends on x and x' only through
t = <x, x'> / d: |z|^2 = d + b^2 and <z, z'> = d t + b^2 on raw inputs, and the
representation's recursion starts from Sigma_0 = t. Such a kernel k(t) is diagonal in the
spherical harmonics (Funk-Hecke): its integral operator f -> E_x' k(x, x') f(x') has on the
degree-l harmonics the eigenvalue

    lambda_l = (|S^{d-2}| / |S^{d-1}|) int_{-1}^{1} k(t) Q_l(t) (1 - t^2)^{(d-3)/2} dt
             = E_t[k(t) Q_l(t)],   t = <x, x'> / d for independent uniform x, x',

of multiplicity N(d, l), with Q_l the Gegenbauer polynomial normalised to Q_l(1) = 1
(`hierlearn.polynomials.gegenbauer`) and N(d, l) the dimension of the degree-l harmonics
(`hierlearn.polynomials.harmonic_dimension`), so that

    k(t) = sum_l lambda_l N(d, l) Q_l(t),   k(1) = sum_l lambda_l N(d, l) (the trace).

The integral is a Gauss-Jacobi quadrature with alpha = beta = (d - 3) / 2 (the weight
(1 - t^2)^{(d-3)/2} is built into the rule, so no power of (1 - t^2) is ever formed), its weights
divided by their sum (which is the normalising constant |S^{d-1}| / |S^{d-2}| for the rule, so
no Gamma function is evaluated), and Q_l by the three-term recurrence, which is stable on
[-1, 1]: the computation stays accurate for d in the hundreds. k(t) is evaluated at the nodes
by the public kernel functions themselves, on the pairs x = sqrt(d) e_1,
x' = sqrt(d) (t e_1 + sqrt(1 - t^2) e_2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import roots_jacobi

from .._validation import check_choice, check_float, check_int
from ..polynomials import gegenbauer, harmonic_dimension
from .analytic import KINDS, InfiniteWidthKernel, as_representation

DEFAULT_NODES = 512  # quadrature nodes at least; more for high degrees (see _node_count)


@dataclass(frozen=True)
class KernelSpectrum:
    """Eigenvalues of a kernel's integral operator on the sphere, per harmonic degree.

    Attributes:
        d: input dimension.
        eigenvalues: (max_degree + 1,) array, lambda_l for l = 0..max_degree (w.r.t. the
            uniform probability measure on the sphere of radius sqrt(d); the eigenvalues of
            K / n for n sample points approximate them). Values at the level of rounding
            (e.g. the odd degrees >= 3 of the bias-free relu NTK, which vanish) may be tiny
            negative numbers.
        multiplicities: (max_degree + 1,) float array, N(d, l).
        trace: k(1) = sum over all degrees of lambda_l N(d, l) (the kernel on the diagonal).
    """

    d: int
    eigenvalues: np.ndarray
    multiplicities: np.ndarray
    trace: float

    @property
    def max_degree(self) -> int:
        return len(self.eigenvalues) - 1

    @property
    def degree_mass(self) -> np.ndarray:
        """lambda_l N(d, l): the share of k(1) carried by each degree."""
        return self.eigenvalues * self.multiplicities

    @property
    def tail(self) -> float:
        """k(1) - sum_{l <= max_degree} lambda_l N(d, l): the trace of the degrees left out
        (>= 0 up to quadrature error for a positive semi-definite kernel)."""
        return float(self.trace - self.degree_mass.sum())

    def kernel(self, t) -> np.ndarray:
        """The truncated expansion sum_{l <= max_degree} lambda_l N(d, l) Q_l(t)."""
        t = torch.as_tensor(np.asarray(t, dtype=np.float64))
        total = torch.zeros_like(t)
        for degree, mass in enumerate(self.degree_mass):
            total += float(mass) * gegenbauer(degree, self.d, t)
        return total.numpy()


def _node_count(max_degree: int, nodes: int | None) -> int:
    if nodes is not None:
        return check_int("nodes", nodes, minimum=max_degree + 1)
    return max(DEFAULT_NODES, 8 * (max_degree + 1))


def kernel_function(
    kind: str,
    d: int,
    t,
    activation: str = "relu",
    input_bias: float = 0.0,
    representation=None,
) -> np.ndarray:
    """k(t) for x, x' on the sphere of radius sqrt(d) with <x, x'> / d = t (arguments as
    [`spectrum`][hierlearn.kernels.spectra.spectrum]), computed by the public kernel functions on
    explicit point pairs."""
    t = np.asarray(t, dtype=np.float64)
    shape = t.shape
    t = np.clip(t.reshape(-1), -1.0, 1.0)
    width = d + (1 if input_bias else 0)
    first = np.zeros((1, width))
    second = np.zeros((t.size, width))
    root = math.sqrt(d)
    first[0, 0] = root
    second[:, 0] = root * t
    if d >= 2:
        second[:, 1] = root * np.sqrt(1.0 - t * t)
    elif np.any(np.abs(t) != 1.0):
        raise ValueError("in d = 1 the sphere is {-1, 1}: t must be -1 or 1")
    if input_bias:
        first[:, -1] = input_bias
        second[:, -1] = input_bias
    kernel = InfiniteWidthKernel(kind, activation, representation)
    values = kernel.matrix(first, second)[0].numpy()
    return values.reshape(shape)


def _diagonal(kind, d, activation, input_bias, representation) -> float:
    """k(1), from the symmetric kernel call (which sets the correlation to 1 exactly)."""
    point = np.zeros((1, d + (1 if input_bias else 0)))
    point[0, 0] = math.sqrt(d)
    if input_bias:
        point[0, -1] = input_bias
    kernel = InfiniteWidthKernel(kind, activation, representation)
    return float(kernel.matrix(point)[0, 0])


def spectrum(
    kind: str,
    d: int,
    max_degree: int,
    *,
    activation: str = "relu",
    input_bias: float = 0.0,
    representation=None,
    nodes: int | None = None,
) -> KernelSpectrum:
    """Eigenvalues lambda_l (l = 0..max_degree) and multiplicities N(d, l) of a kernel on the
    sphere of radius sqrt(d) (see the module docstring).

    Args:
        kind: "ntk", "nngp" or "linear", as [`hierlearn.kernels.ntk`][] / ``nngp``.
        d: input dimension, >= 2.
        max_degree: the highest harmonic degree computed.
        activation: trainable activation (ignored by ``linear``).
        input_bias: b >= 0, a constant coordinate appended to raw inputs (the
            ``input_bias`` of [`KernelRegressor`][hierlearn.KernelRegressor]); raw inputs only.
        representation: None, or a dict /
            `RepresentationSpec` (activation, depth,
            bias_std) of an infinite-width random representation, un-centred.
        nodes: quadrature nodes (default max(512, 8 (max_degree + 1))).

    Returns:
        [`KernelSpectrum`][hierlearn.kernels.spectra.KernelSpectrum].
    """
    check_choice("kind", kind, KINDS)
    d = check_int("d", d, minimum=2)
    max_degree = check_int("max_degree", max_degree, minimum=0)
    input_bias = check_float("input_bias", input_bias, minimum=0.0)
    representation = as_representation(representation)
    if input_bias and representation is not None:
        raise ValueError("input_bias applies to raw inputs only")
    count = _node_count(max_degree, nodes)
    alpha = (d - 3) / 2
    points, weights = roots_jacobi(count, alpha, alpha)
    weights = weights / weights.sum()  # the law of t = <x, x'> / d
    values = kernel_function(kind, d, points, activation, input_bias, representation)
    weighted = torch.as_tensor(values * weights)
    nodes_t = torch.as_tensor(points)
    eigenvalues = np.array(
        [
            float((weighted * gegenbauer(degree, d, nodes_t)).sum())
            for degree in range(max_degree + 1)
        ]
    )
    multiplicities = np.array(
        [float(harmonic_dimension(d, degree)) for degree in range(max_degree + 1)]
    )
    trace = _diagonal(kind, d, activation, input_bias, representation)
    return KernelSpectrum(d, eigenvalues, multiplicities, trace)
