"""Orthogonal polynomials used across the library: one home for each family.

- Probabilists' Hermite polynomials He_k, orthogonal under N(0, 1) with E He_j He_k = k! [j = k]
  (the Hermite targets and activations, and the Gaussian series of [`hierlearn.kernels`][]);
  `hermite_table` gives the normalised h_k = He_k / sqrt(k!).
- Gegenbauer polynomials Q_p in dimension d normalised to Q_p(1) = 1, the zonal spherical
  harmonics of the sphere S^{d-1}: E_x Q_p(<x, a>/d) Q_q(<x, b>/d) = [p = q] Q_p(<a, b>/d) / N(d, p)
  for x uniform on the sphere of radius sqrt(d) (docs/theory.md §1.4), with N(d, p)
  `harmonic_dimension`.
"""

from __future__ import annotations

import math

import torch


def hermite_polynomial(k: int, t: torch.Tensor) -> torch.Tensor:
    """Probabilists' Hermite polynomial He_k(t) by the three-term recurrence.

    He_0 = 1, He_1 = t, He_{j+1}(t) = t He_j(t) - j He_{j-1}(t).
    """
    previous, current = torch.ones_like(t), t
    if k == 0:
        return previous
    for j in range(1, k):
        previous, current = current, t * current - j * previous
    return current


def hermite_table(nodes: torch.Tensor, degree: int) -> torch.Tensor:
    """h_k(nodes) = He_k(nodes) / sqrt(k!) for k = 0..degree, shape (degree + 1, len(nodes)).

    Uses the normalised recurrence h_{k+1} = (s h_k - sqrt(k) h_{k-1}) / sqrt(k + 1), which
    stays finite where He_k itself would overflow.
    """
    table = torch.empty(degree + 1, nodes.shape[0], dtype=nodes.dtype, device=nodes.device)
    table[0] = 1.0
    if degree >= 1:
        table[1] = nodes
    for k in range(1, degree):
        table[k + 1] = (nodes * table[k] - math.sqrt(k) * table[k - 1]) / math.sqrt(k + 1)
    return table


def harmonic_dimension(d: int, p: int) -> int:
    """N(d, p): dimension of the space of degree-p spherical harmonics in R^d."""
    if p == 0:
        return 1
    if d == 2:
        return 2
    return (2 * p + d - 2) * math.comb(p + d - 3, p - 1) // p


def gegenbauer(p: int, d: int, s: torch.Tensor) -> torch.Tensor:
    """Q_p(s), the degree-p Gegenbauer polynomial in dimension d with Q_p(1) = 1.

    Recurrence: Q_{k+1}(s) = ((2k + d - 2) s Q_k(s) - k Q_{k-1}(s)) / (k + d - 2).
    """
    previous, current = torch.ones_like(s), s
    if p == 0:
        return previous
    for k in range(1, p):
        previous, current = current, ((2 * k + d - 2) * s * current - k * previous) / (k + d - 2)
    return current
