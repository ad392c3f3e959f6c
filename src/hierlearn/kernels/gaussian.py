"""Gaussian expectations E[f(u) f(u')] for activations without a closed form.

For a centred Gaussian pair (u, u') with variances q1, q2 and covariance c, write
u = sigma1 s, u' = sigma2 s' with sigma = sqrt(q), corr(s, s') = rho = c / (sigma1 sigma2).
With the orthonormal Hermite polynomials h_k = He_k / sqrt(k!) (Mehler's formula),

    E[f(u) f(u')] = sum_{k >= 0} a_k(sigma1) a_k(sigma2) rho^k,
    a_k(sigma) = E_{s ~ N(0,1)}[f(sigma s) h_k(s)].

The coefficients are computed once per point (one-dimensional quadrature, a matrix product)
and the series is summed per pair by Horner's rule, keeping only the terms of the parity that
is present (tanh is odd, its derivative even). The truncation after J terms errs by at most
sqrt(T1 T2) with T(r, J) = sum_{k > J} a_k^2 r^k for |rho| <= r (Cauchy-Schwarz): J and the
radius r are chosen so that this bound is below ``SERIES_TOLERANCE`` times the kernel scale,
and the few pairs with |rho| > r (near-duplicates, the diagonal, when f is steep) are
integrated directly by a two-dimensional Gauss-Legendre rule. Polynomials of degree p have
a_k = 0 for k > p and are summed exactly (Gauss-Hermite coefficients, p + 1 nodes).

Accuracy: better than 1e-8 relative for pre-activation standard deviations up to about 6
(checked against independent quadrature in ``tests/test_kernels_gaussian.py``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import roots_hermitenorm, roots_legendre

from ..polynomials import hermite_table

Elementwise = Callable[[torch.Tensor], torch.Tensor]

SERIES_TERMS = 128  # largest Hermite degree J kept in a series
_GUARD_TERMS = 32  # further coefficients computed only to bound the truncation error
SERIES_TOLERANCE = 1e-9  # truncation bound, relative to sqrt(E f(u)^2 E f(u')^2)
_RADII = (1.0, 0.99, 0.95, 0.9, 0.8, 0.6, 0.3, 0.0)  # candidate radii r, largest first
_COEFFICIENT_NODES = 600  # Gauss-Legendre nodes on [-_HALF_WIDTH, _HALF_WIDTH] for a_k
_HALF_WIDTH = 10.0  # phi(10) ~ 8e-23: the normal density is negligible beyond
_PAIR_CHUNK = 1 << 21  # entries x nodes evaluated at once by the 2-D rule
_POINT_CHUNK = 4096  # points whose coefficients are computed at once


@functools.lru_cache(maxsize=64)
def _rule_numpy(kind: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of E_{s ~ N(0,1)}[g(s)] ~ sum_a w_a g(s_a)."""
    if kind == "hermite":
        nodes, weights = roots_hermitenorm(size)
        return nodes, weights / weights.sum()
    nodes, weights = roots_legendre(size)
    nodes = nodes * _HALF_WIDTH
    weights = weights * _HALF_WIDTH * np.exp(-0.5 * nodes * nodes) / math.sqrt(2.0 * math.pi)
    return nodes, weights


def gaussian_rule(kind: str, size: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quadrature for the standard normal law on the device and dtype of ``like``.

    Args:
        kind: "hermite" (Gauss-Hermite, exact for polynomials of degree <= 2 size - 1) or
            "legendre" (Gauss-Legendre on [-10, 10] times the normal density, robust for steep
            smooth functions).
        size: number of nodes.
        like: tensor whose device and dtype the rule takes.
    """
    nodes, weights = _rule_numpy(kind, size)
    return (
        torch.as_tensor(nodes, dtype=like.dtype, device=like.device),
        torch.as_tensor(weights, dtype=like.dtype, device=like.device),
    )


@dataclass(frozen=True)
class SeriesPoints:
    """Hermite coefficients of f(sigma_i s) for a set of points.

    Attributes:
        sigma: (n,) tensor, the standard deviations sigma_i = sqrt(q_i).
        coefficients: (n, J + 1) tensor, a_k(sigma_i).
        second_moment: (n,) tensor, E f(sigma_i s)^2 (by quadrature, not by the series).
        tails: (len(_RADII), J + 1) tensor, max_i sum_{k' > k} a_k'(sigma_i)^2 r^k' for each
            candidate radius r, summed up to the last coefficient (the whole set's bound, kept
            by `select`). Only J <= SERIES_TERMS is used in a series: the last
            ``_GUARD_TERMS`` coefficients serve to estimate the truncation error.
        magnitude: (J + 1,) tensor, max_i |a_k(sigma_i)| (the whole set's, kept by
            `select`): which parities are present.
        sigma_max: the largest sigma of the whole set (sets the quadrature nodes).
        moment_max: the largest second moment of the whole set (the kernel scale).
        exact: True for polynomials (all coefficients beyond J vanish).

    The whole-set quantities make a kernel block's value independent of how a matrix is cut
    into blocks.
    """

    sigma: torch.Tensor
    coefficients: torch.Tensor
    second_moment: torch.Tensor
    tails: torch.Tensor
    magnitude: torch.Tensor
    sigma_max: float
    moment_max: float
    exact: bool

    def select(self, index) -> SeriesPoints:
        """The points ``index`` (a slice or an index tensor), with the tails of the whole set."""
        return SeriesPoints(
            self.sigma[index],
            self.coefficients[index],
            self.second_moment[index],
            self.tails,
            self.magnitude,
            self.sigma_max,
            self.moment_max,
            self.exact,
        )


def expand(
    function: Elementwise, variance: torch.Tensor, polynomial_degree: int | None = None
) -> SeriesPoints:
    """Hermite coefficients a_k(sigma) of f(sigma s) for every sigma = sqrt(variance).

    Args:
        function: f, elementwise.
        variance: (n,) tensor of pre-activation variances q >= 0.
        polynomial_degree: p when f is a polynomial of degree p (exact Gauss-Hermite rule
            with p + 1 nodes and J = p), None otherwise (Gauss-Legendre, J = SERIES_TERMS).
    """
    sigma = variance.clamp_min(0.0).sqrt()
    if polynomial_degree is not None:
        degree = polynomial_degree
        nodes, weights = gaussian_rule("hermite", degree + 1, sigma)
    else:
        degree = SERIES_TERMS + _GUARD_TERMS
        nodes, weights = gaussian_rule("legendre", _COEFFICIENT_NODES, sigma)
    weighted_table = hermite_table(nodes, degree).mul_(weights).T  # (N, J + 1)
    coefficients = torch.empty(sigma.shape[0], degree + 1, dtype=sigma.dtype, device=sigma.device)
    second_moment = torch.empty_like(sigma)
    for start in range(0, sigma.shape[0], _POINT_CHUNK):
        values = function(sigma[start : start + _POINT_CHUNK, None] * nodes)
        coefficients[start : start + _POINT_CHUNK] = values @ weighted_table
        second_moment[start : start + _POINT_CHUNK] = (values * values) @ weights
    radii = torch.tensor(_RADII, dtype=sigma.dtype, device=sigma.device)
    powers = radii[:, None] ** torch.arange(degree + 1, device=sigma.device, dtype=sigma.dtype)
    tails = torch.zeros(len(_RADII), degree + 1, dtype=sigma.dtype, device=sigma.device)
    if polynomial_degree is None and sigma.shape[0] > 0:
        squares = coefficients * coefficients  # (n, J + 1)
        for index in range(len(_RADII)):
            # sum_{k < k' <= J + guard} a_k'^2 r^k' for every k, then the worst point; the
            # guard band stands in for the (decaying) rest of the series.
            weighted = (squares * powers[index]).flip(1).cumsum(1).flip(1)
            tails[index, :-1] = weighted[:, 1:].amax(0)
    magnitude = coefficients.abs().amax(0) if sigma.shape[0] else coefficients.new_zeros(degree + 1)
    sigma_max = float(sigma.max()) if sigma.shape[0] else 0.0
    moment_max = float(second_moment.max()) if sigma.shape[0] else 0.0
    return SeriesPoints(
        sigma,
        coefficients,
        second_moment,
        tails,
        magnitude,
        sigma_max,
        moment_max,
        exact=polynomial_degree is not None,
    )


def _truncation(points1: SeriesPoints, points2: SeriesPoints) -> tuple[int, float]:
    """The number of terms J and radius r of the series for this pair of point sets."""
    if points1.exact or points2.exact:
        degree = min(points1.coefficients.shape[1], points2.coefficients.shape[1]) - 1
        return degree, 1.0
    scale = points1.moment_max * points2.moment_max
    bound = (SERIES_TOLERANCE**2) * max(scale, torch.finfo(points1.tails.dtype).tiny)
    products = points1.tails * points2.tails  # (radii, J + 1), non-increasing in J
    for index, radius in enumerate(_RADII):
        within = torch.nonzero(products[index, : SERIES_TERMS + 1] <= bound)
        if within.numel():
            return int(within[0, 0]), radius
    return SERIES_TERMS, 0.0


def series_block(
    rho: torch.Tensor, points1: SeriesPoints, points2: SeriesPoints, function: Elementwise
) -> torch.Tensor:
    """E[f(u_i) f(u'_j)] for the (n1, n2) correlations ``rho`` (Hermite series, see module).

    Args:
        rho: (n1, n2) correlations c / (sigma1 sigma2), in [-1, 1]; may be overwritten.
        points1: coefficients of the n1 row points.
        points2: coefficients of the n2 column points.
        function: f (for the pairs integrated directly).
    """
    terms, radius = _truncation(points1, points2)
    a = points1.coefficients[:, : terms + 1]
    b = points2.coefficients[:, : terms + 1]
    products = points1.magnitude[: terms + 1] * points2.magnitude[: terms + 1]
    present = products > 1e-15 * max(float(products.max()), torch.finfo(rho.dtype).tiny)
    parities = {k % 2 for k in range(terms + 1) if bool(present[k])}
    if len(parities) == 1:
        # One parity: Horner in rho^2 on the terms k = parity, parity + 2, ...
        parity = parities.pop()
        top = terms if terms % 2 == parity else terms - 1
        square = rho * rho
        value = torch.outer(a[:, top], b[:, top]) if top >= 0 else torch.zeros_like(rho)
        for k in range(top - 2, -1, -2):
            value.mul_(square).addr_(a[:, k], b[:, k])
        if parity == 1:
            value.mul_(rho)
    elif not parities:
        value = torch.zeros_like(rho)
    else:
        value = torch.outer(a[:, terms], b[:, terms])
        for k in range(terms - 1, -1, -1):
            value.mul_(rho).addr_(a[:, k], b[:, k])
    if radius < 1.0:
        outside = torch.nonzero(rho.abs() > radius, as_tuple=True)
        if outside[0].numel():
            sigma1 = points1.sigma[outside[0]]
            sigma2 = points2.sigma[outside[1]]
            scale = max(points1.sigma_max, points2.sigma_max)
            nodes = (_nodes_for(scale), _nodes_for(scale * math.sqrt(1.0 - radius * radius)))
            value[outside] = pair_expectation(function, sigma1, sigma2, rho[outside], nodes)
    return value


def _nodes_for(scale: float) -> int:
    # Gauss-Legendre nodes on [-10, 10] that integrate f(scale * s) phi(s) to ~1e-9 for the
    # activations here (measured: about 96 per unit of scale, at least 128).
    return int(min(max(32 * math.ceil(3.0 * scale), 128), 768))


def pair_expectation(
    function: Elementwise,
    sigma1: torch.Tensor,
    sigma2: torch.Tensor,
    rho: torch.Tensor,
    nodes: tuple[int, int] | None = None,
) -> torch.Tensor:
    """E[f(sigma1 s) f(sigma2 s')] entry by entry by a Gauss-Legendre rule.

    Writes s' = rho s + sqrt(1 - rho^2) t with s, t independent standard normals:

        E = sum_a w_a f(sigma1 s_a) sum_b v_b f(sigma2 (rho s_a + sqrt(1 - rho^2) t_b)),

    a one-dimensional rule where |rho| = 1 (to 1e-12) and a two-dimensional one elsewhere.

    Args:
        function: f, elementwise.
        sigma1, sigma2, rho: 1-D tensors of equal length (one entry per pair).
        nodes: numbers of nodes in s and in t; None chooses them from the largest scales
            (sigma in s, sigma2 sqrt(1 - rho^2) in t).
    """
    result = torch.empty_like(rho)
    if rho.numel() == 0:
        return result
    spread = (1.0 - rho * rho).clamp_min(0.0).sqrt()
    if nodes is None:
        nodes = (
            _nodes_for(float(torch.maximum(sigma1, sigma2).max())),
            _nodes_for(float((sigma2 * spread).max())),
        )
    s_nodes, s_weights = gaussian_rule("legendre", nodes[0], rho)
    t_nodes, t_weights = gaussian_rule("legendre", nodes[1], rho)
    aligned = spread <= 1e-6  # |rho| > 1 - 5e-13: f(sigma2 rho s) to within ~1e-12
    if bool(aligned.any()):
        index = torch.nonzero(aligned, as_tuple=True)[0]
        chunk = max(1, _PAIR_CHUNK // nodes[0])
        for start in range(0, index.shape[0], chunk):
            part = index[start : start + chunk]
            values = function(sigma1[part, None] * s_nodes)
            values = values * function((sigma2[part] * rho[part].sign())[:, None] * s_nodes)
            result[part] = values @ s_weights
    index = torch.nonzero(~aligned, as_tuple=True)[0]
    chunk = max(1, _PAIR_CHUNK // (nodes[0] * nodes[1]))
    for start in range(0, index.shape[0], chunk):
        part = index[start : start + chunk]
        r = rho[part, None, None]
        inner = function(
            sigma2[part, None, None]
            * (r * s_nodes[None, :, None] + spread[part, None, None] * t_nodes)
        )
        inner = inner @ t_weights  # (chunk, N_s)
        outer = function(sigma1[part, None] * s_nodes[None, :])
        result[part] = (outer * inner) @ s_weights
    return result
