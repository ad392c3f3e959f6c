"""Low-rank polynomial targets (docs/theory.md §1.4).

f*(x) = sum_{s=1..r} alpha_s phi_{p_s}(<beta_s, x>), with beta_1..beta_r orthonormal (random,
drawn from ``random_state``) and the coefficients rescaled so that E f*(x)^2 = 1 exactly under
the input law that matches the basis, computed in closed form (no Monte Carlo):

``hermite`` (gaussian inputs)
    phi_p(t) = He_p(t) / sqrt(p!). Components with orthonormal directions are uncorrelated, so
    the default alpha_s = 1 / sqrt(r) already gives unit variance; f* is orthogonal to every
    polynomial of degree < min(p_s).
``gegenbauer`` (sphere inputs, x on the sphere of radius sqrt d)
    phi_p(t) = sqrt(N(d, p)) Q_p(t / sqrt d), the zonal spherical harmonic of degree p, with
    Q_p the Gegenbauer polynomial normalised to Q_p(1) = 1 and N(d, p) the dimension of the
    degree-p harmonics. E[phi_p(<a,x>) phi_p(<b,x>)] = Q_p(<a,b>), so two components of the
    same even degree are correlated (Q_p(0) != 0); the rescaling accounts for it.
``monomial`` (gaussian or sphere inputs)
    phi_p(t) = t^p / sqrt(E t^{2p}), as in the paper; components are correlated through their
    means and the rescaling accounts for it.

"Unit variance" means unit second moment E f*^2 = 1, the denominator of the relative error;
for ``hermite`` and ``gegenbauer`` targets (degrees >= 1) the mean is zero and the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ._random import make_generator
from ._validation import check_choice, check_float, check_int
from .polynomials import gegenbauer, harmonic_dimension, hermite_polynomial

BASES = ("hermite", "gegenbauer", "monomial")
_MATCHING_LAW = {
    "hermite": ("gaussian",),
    "gegenbauer": ("sphere",),
    "monomial": ("gaussian", "sphere"),
}


def _gaussian_moment(k: int) -> float:
    """E t^k for t ~ N(0, 1): (k - 1)!! for even k, 0 for odd k."""
    return 0.0 if k % 2 else float(math.prod(range(k - 1, 0, -2)))


def _sphere_moment(exponents: Sequence[int], d: int) -> float:
    """E prod_i t_i^{e_i}, t_i = <beta_i, x> for orthonormal beta_i and x on S^{d-1}(sqrt d).

    (u_i^2) = (t_i^2 / d) follow a Dirichlet(1/2, ..., (d - k)/2) law, which gives
    E prod u_i^{e_i} = Gamma(d/2) prod Gamma((e_i + 1)/2) / (Gamma(1/2)^k Gamma(d/2 + sum e_i/2)).
    """
    if any(e % 2 for e in exponents):
        return 0.0
    total = sum(exponents)
    log_moment = math.lgamma(d / 2) - math.lgamma(d / 2 + total / 2)
    log_moment += sum(math.lgamma((e + 1) / 2) - math.lgamma(0.5) for e in exponents)
    return math.exp(log_moment) * d ** (total / 2)


class _Target:
    """What every target shares: its inputs' check and its noisy labels (``d`` and
    ``noise_std`` set by the subclass)."""

    d: int
    noise_std: float

    def _inputs(self, X) -> tuple[torch.Tensor, bool]:
        """(X as a tensor, whether it came as numpy), X checked to be (n_samples, d)."""
        as_numpy = not isinstance(X, torch.Tensor)
        X_t = torch.as_tensor(np.asarray(X) if as_numpy else X)
        if X_t.ndim != 2 or X_t.shape[1] != self.d:
            raise ValueError(f"X must have shape (n_samples, {self.d}), got {tuple(X_t.shape)}")
        return X_t, as_numpy

    def labels(self, X, generator=None):
        """Noisy labels y = f*(X) + noise_std * xi, xi ~ N(0, 1) drawn from ``generator``."""
        values = self(X)
        if self.noise_std == 0.0:
            return values
        noise = torch.randn(
            values.shape[0], generator=make_generator(generator), dtype=torch.float64
        )
        if isinstance(values, torch.Tensor):
            return values + self.noise_std * noise.to(values)
        return values + self.noise_std * noise.numpy()


class LowRankPolynomial(_Target):
    """A low-rank polynomial target f*(x) = sum_s alpha_s phi_{p_s}(<beta_s, x>).

    Args:
        d: input dimension.
        degrees: an int (every one of the ``rank`` components has that degree) or a sequence of
            ints (one component per entry; ``rank`` is then its length). Degrees are >= 1.
        rank: number of components r <= d when ``degrees`` is an int.
        basis: "hermite", "gegenbauer" or "monomial" (see the module docstring).
        coefficients: alpha (length r); default 1/sqrt(r) each. Rescaled so E f*^2 = 1.
        noise_std: tau, the standard deviation of the label noise added by
            [`labels`][hierlearn.targets.LowRankPolynomial.labels].
        random_state: seed of the directions beta (an int, a torch or numpy Generator, None).
        inputs: the input law the normalisation refers to: "gaussian" (hermite, monomial) or
            "sphere" (gegenbauer, monomial); default the one matching ``basis``.

    Attributes:
        directions: (r, d) tensor with orthonormal rows beta_s (float64).
        coefficients: (r,) tensor of the rescaled alpha_s.
        second_moment: E f*^2 under ``input_law``, exact (alpha^T G alpha with the
            closed-form Gram matrix G; 1 up to rounding).
        degrees: tuple of the r degrees.
        input_law: "gaussian" or "sphere".
    """

    def __init__(
        self,
        d: int,
        degrees,
        rank: int = 1,
        basis: str = "hermite",
        coefficients=None,
        noise_std: float = 0.0,
        random_state=None,
        inputs: str | None = None,
    ):
        self.d = check_int("d", d, minimum=1)
        self.basis = check_choice("basis", basis, BASES)
        self.degrees = self._resolve_degrees(degrees, rank)
        self.rank = len(self.degrees)
        if self.rank > self.d:
            raise ValueError(
                f"rank must be <= d = {self.d} (orthonormal directions), got {self.rank}"
            )
        self.input_law = _MATCHING_LAW[self.basis][0] if inputs is None else inputs
        check_choice("inputs", self.input_law, _MATCHING_LAW[self.basis])
        if self.basis == "gegenbauer" and self.d < 2:
            raise ValueError("d must be >= 2 for the gegenbauer basis")
        self.noise_std = check_float("noise_std", noise_std, minimum=0.0)

        generator = make_generator(random_state)
        gaussian = torch.randn(self.d, self.rank, generator=generator, dtype=torch.float64)
        q, r = torch.linalg.qr(gaussian)
        # Fix the QR sign ambiguity so the directions are a function of the seed alone.
        self.directions = (q * torch.sign(torch.diagonal(r))).T.contiguous()

        alpha = self._resolve_coefficients(coefficients)
        gram = torch.as_tensor(self._gram(), dtype=torch.float64)
        second_moment = float(alpha @ gram @ alpha)
        if second_moment <= 0:
            raise ValueError("coefficients give a target that is identically zero")
        self.coefficients = alpha / math.sqrt(second_moment)
        # E f*^2 of the rescaled target, from the closed-form Gram matrix (1 up to rounding):
        # the exact normaliser of every relative error (docs/theory.md §3).
        self.second_moment = float(self.coefficients @ gram @ self.coefficients)

    @staticmethod
    def _resolve_degrees(degrees, rank) -> tuple[int, ...]:
        if isinstance(degrees, (int, np.integer)) and not isinstance(degrees, bool):
            rank = check_int("rank", rank, minimum=1)
            resolved = (int(degrees),) * rank
        elif isinstance(degrees, Sequence) and not isinstance(degrees, str) and len(degrees) > 0:
            resolved = tuple(check_int("degrees", p) for p in degrees)
            if rank not in (1, len(resolved)):
                raise ValueError(
                    f"rank={rank} does not match the {len(resolved)} entries of degrees"
                )
        else:
            raise ValueError(
                f"degrees must be an int or a non-empty sequence of ints, got {degrees!r}"
            )
        if min(resolved) < 1:
            raise ValueError(f"degrees must be >= 1, got {list(resolved)}")
        return resolved

    def _resolve_coefficients(self, coefficients) -> torch.Tensor:
        if coefficients is None:
            return torch.full((self.rank,), 1.0 / math.sqrt(self.rank), dtype=torch.float64)
        alpha = torch.as_tensor(np.asarray(coefficients, dtype=np.float64))
        if alpha.shape != (self.rank,) or not torch.isfinite(alpha).all():
            raise ValueError(
                f"coefficients must be {self.rank} finite numbers (one per component), "
                f"got {coefficients!r}"
            )
        return alpha

    def _gram(self) -> np.ndarray:
        """G[s, t] = E[phi_{p_s}(<beta_s, x>) phi_{p_t}(<beta_t, x>)] in closed form."""
        r, gram = self.rank, np.eye(self.rank)
        for s in range(r):
            for t in range(s + 1, r):
                ps, pt = self.degrees[s], self.degrees[t]
                if self.basis == "hermite":
                    value = 0.0  # independent directions, mean-zero factors
                elif self.basis == "gegenbauer":
                    zero = torch.zeros((), dtype=torch.float64)
                    value = float(gegenbauer(ps, self.d, zero)) if ps == pt else 0.0
                else:
                    value = self._monomial_cross(ps, pt)
                gram[s, t] = gram[t, s] = value
        return gram

    def _monomial_cross(self, ps: int, pt: int) -> float:
        if self.input_law == "gaussian":
            cross = _gaussian_moment(ps) * _gaussian_moment(pt)
            norms = _gaussian_moment(2 * ps) * _gaussian_moment(2 * pt)
        else:
            cross = _sphere_moment((ps, pt), self.d)
            norms = _sphere_moment((2 * ps,), self.d) * _sphere_moment((2 * pt,), self.d)
        return cross / math.sqrt(norms)

    def _phi(self, p: int, t: torch.Tensor) -> torch.Tensor:
        if self.basis == "hermite":
            return hermite_polynomial(p, t) / math.sqrt(math.factorial(p))
        if self.basis == "gegenbauer":
            scale = math.sqrt(harmonic_dimension(self.d, p))
            return gegenbauer(p, self.d, t / math.sqrt(self.d)) * scale
        if self.input_law == "gaussian":
            norm = _gaussian_moment(2 * p)
        else:
            norm = _sphere_moment((2 * p,), self.d)
        return t**p / math.sqrt(norm)

    def __call__(self, X):
        """Noise-free values f*(X) for X of shape (n_samples, d); numpy or torch in, same out."""
        X_t, as_numpy = self._inputs(X)
        directions = self.directions.to(device=X_t.device)
        projections = X_t.to(torch.float64) @ directions.T
        values = torch.zeros(X_t.shape[0], dtype=torch.float64, device=X_t.device)
        for s, p in enumerate(self.degrees):
            values = values + float(self.coefficients[s]) * self._phi(p, projections[:, s])
        return values.cpu().numpy() if as_numpy else values.to(X_t.dtype)

    def __repr__(self) -> str:
        return (
            f"LowRankPolynomial(d={self.d}, degrees={list(self.degrees)}, basis={self.basis!r}, "
            f"inputs={self.input_law!r}, noise_std={self.noise_std})"
        )


class CallableTarget(_Target):
    """Your own target f*(x) = ``function(x)``, with its exact second moment given.

    Args:
        function: f(X) for X a (n_samples, d) float64 torch tensor; returns the n_samples
            values (a tensor, an array or a list; shape (n,) or (n, 1)), all finite.
        d: input dimension.
        second_moment: E f*(x)^2 under the input law, > 0: the normaliser of every relative
            error (docs/theory.md §3), given, never estimated from a sample.
        noise_std: tau, the standard deviation of the label noise added by ``labels``.
        name: how the target is named in errors and its repr (default the function's name).

    Attributes:
        second_moment: E f*^2 as given.
        noise_std: tau.
    """

    def __init__(self, function, d: int, second_moment: float, noise_std: float = 0.0, name=None):
        if not callable(function):
            raise ValueError(f"function must be callable, got {function!r}")
        self.function = function
        self.d = check_int("d", d, minimum=1)
        self.second_moment = check_float("second_moment", second_moment, minimum=0.0, strict=True)
        self.noise_std = check_float("noise_std", noise_std, minimum=0.0)
        self.name = name or getattr(function, "__qualname__", None) or repr(function)

    def __call__(self, X):
        """Noise-free values f*(X) for X of shape (n_samples, d); numpy or torch in, same out."""
        X_t, as_numpy = self._inputs(X)
        raw = self.function(X_t.to(torch.float64))
        if isinstance(raw, torch.Tensor):
            values = raw.detach().to(device=X_t.device, dtype=torch.float64)
        else:
            values = torch.as_tensor(np.asarray(raw, dtype=np.float64), device=X_t.device)
        n = X_t.shape[0]
        if values.shape not in ((n,), (n, 1)):
            raise ValueError(
                f"target {self.name} returned shape {tuple(values.shape)} for {n} inputs; "
                f"expected ({n},)"
            )
        values = values.reshape(n)
        if not torch.isfinite(values).all():
            raise ValueError(f"target {self.name} returned non-finite values")
        return values.cpu().numpy() if as_numpy else values.to(X_t.dtype)

    def __repr__(self) -> str:
        return (
            f"CallableTarget({self.name}, d={self.d}, second_moment={self.second_moment:g}, "
            f"noise_std={self.noise_std})"
        )
