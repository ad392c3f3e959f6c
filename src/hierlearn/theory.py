"""Predicted sample-complexity exponents (arXiv 2006.13436; ``docs/theory.md``).

For a low-rank target of degree p in dimension d, the number of samples a learner needs grows
like d^e; this module returns e.

===========  ===================================================  ==============================
learner      what it is                                           exponent e
===========  ===================================================  ==============================
``ntk-x``    linearised (NTK) two-layer net / its kernel, raw x   p
``ntk-h``    the same on a random representation h(x)             p (lower bound)
``quad-x``   quadratic Taylor model on raw x (Bai & Lee 2020)     max(p - 1, 1) (upper bound)
``quad-h``   quadratic Taylor model on the whitened h(x)          k, for D ~ d^k features that
                                                                  express the target (below)
``info``     any method (r d parameters)                          1
===========  ===================================================  ==============================

Quad-h. The paper's bound is O~(D) samples for a representation of width D that expresses
the low-degree part of f*: a quadratic form in (1, h) reaches the degrees S + S (S the
degrees h's span reaches, 0 included through the first-layer bias), so a degree-p target
needs features up to degree ceil(p/2), and the degree-q polynomials of x need D >~ d^q
features. Hence, for D ~ d^k:

* the prediction is k (n ~ D), when p is in S_k + S_k, S_k the degrees of S that are <= k;
* there is none (``None``) when it is not: the representation cannot express the target
  (too narrow, or of the wrong parity: whitened He_2 features reach only even degrees, so an
  odd p is never learnable from them).

Without a representation law the paper's choice D ~ d^ceil(p/2) is assumed: e = ceil(p/2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._validation import check_choice, check_int

LEARNERS: tuple[str, ...] = ("ntk-x", "ntk-h", "quad-x", "quad-h", "info")

# Representation activations whose features are polynomials of bounded degree k.
_POLYNOMIAL = ("hermite", "monomial")
# Odd activations (without bias their features reach only odd degrees).
_ODD = ("sign", "tanh", "erf")


@dataclass(frozen=True)
class RepresentationLaw:
    """What the theory needs to know of a representation h.

    Attributes:
        width_exponent: k in D ~ d^k (the representation width's growth in d).
        degrees: the polynomial degrees h's span reaches, as a sorted tuple; ``None`` means
            every degree (relu or step features with random biases). Degree 0 is always
            reachable through the model's first-layer bias.
    """

    width_exponent: float
    degrees: tuple[int, ...] | None = None

    def reachable(self, p: int) -> bool:
        """Whether a quadratic form in (1, h) expresses degree p with D ~ d^k features."""
        limit = math.floor(self.width_exponent + 1e-9)
        span = {0} | {q for q in (self.degrees or range(p + 1)) if q <= limit}
        return any(p - q in span for q in span)


def span_degrees(
    activation: str, depth: int = 1, bias_std: float = 0.0, max_degree: int = 8
) -> tuple[int, ...] | None:
    """Degrees reached by the span of random features act(V x / sqrt(d) + b), ``None``: all.

    A degree-k polynomial activation (``hermite-k``, ``monomial-k``) of a projection whose
    variance is not exactly one reaches the degrees <= k of k's parity, and every degree
    <= k with random biases; depth L composes to degree k^L. Odd activations (sign, tanh,
    erf) reach odd degrees only without biases; ``step`` the odd degrees and 0, ``relu``
    degree 1 and the even degrees. Anything else with random biases (or depth) reaches every
    degree. Unbounded spans are listed up to ``max_degree``.
    """
    from .activations import parse_representation_activation

    family, k = parse_representation_activation(activation)
    if family in _POLYNOMIAL:
        top = k**depth
        if bias_std > 0 or (depth > 1 and k % 2):
            return tuple(range(top + 1))
        return tuple(q for q in range(top + 1) if q % 2 == k % 2)
    if bias_std > 0 or depth > 1:
        return None
    every = range(max_degree + 1)
    if family in _ODD:
        return tuple(q for q in every if q % 2)
    if family == "step":
        return tuple(q for q in every if q % 2 or q == 0)
    return tuple(q for q in every if q == 1 or q % 2 == 0)  # relu


def representation_law(
    widths: dict[int, int], activation: str, depth: int = 1, bias_std: float = 0.0, p: int = 1
) -> RepresentationLaw | None:
    """The law of a representation used at several d: {d: width D}, its activation and bias.

    ``width_exponent`` is the least-squares slope of log D against log d, rounded to the
    nearest half: the growth law, not its local slope (D = d(d+1)/2, the He_2 basis, has slope
    1.87 over d = 5 ... 10 and grows as d^2);
    ``None`` with fewer than two distinct d (the growth cannot be read off).
    """
    import numpy as np

    if len(widths) < 2:
        return None
    dimensions = sorted(widths)
    slope = np.polyfit(np.log(dimensions), np.log([widths[d] for d in dimensions]), 1)[0]
    degrees = span_degrees(activation, depth, bias_std, max_degree=2 * max(p, 1))
    return RepresentationLaw(round(2.0 * float(slope)) / 2.0, degrees)


def predicted_exponent(
    learner: str,
    p: int,
    representation: RepresentationLaw | None = None,
    *,
    eps: float | None = None,
    floor: float | None = None,
):
    """Exponent e of the predicted sample complexity n ~ d^e for a degree-``p`` target.

    Args:
        learner: one of ``"ntk-x"``, ``"ntk-h"``, ``"quad-x"``, ``"quad-h"``, ``"info"``
            (case-insensitive; ``"ntk_x"`` and ``"NTK-x"`` are accepted too).
        p: degree of the target polynomial, p >= 1.
        representation: the law of Quad-h's representation (width growth and span); None
            assumes the paper's D ~ d^ceil(p/2). Ignored by the other learners.
        eps: the relative test error whose n*(eps) is predicted (with ``floor``).
        floor: Quad-h's approximation floor, the relative error of the best quadratic form in
            (1, h) (``examples/representation_floor.py``; docs/representations.md). The
            bound is O~(D) samples to reach eps only above it: at eps <= floor no n
            reaches eps, and there is no prediction (None).

    Returns:
        The exponent as a float, or None where the theory gives no finite prediction (Quad-h
        on a representation that cannot express a degree-p target; see the module docstring).
    """
    key = learner.lower().replace("_", "-") if isinstance(learner, str) else learner
    check_choice("learner", key, LEARNERS)
    p = check_int("p", p, minimum=1)
    if key in ("ntk-x", "ntk-h"):
        return float(p)
    if key == "quad-x":
        return float(max(p - 1, 1))
    if key == "quad-h":
        if floor is not None and eps is not None and eps <= floor:
            return None
        if representation is None:
            return float(math.ceil(p / 2))
        if not representation.reachable(p):
            return None
        return float(representation.width_exponent)
    return 1.0


# ---------------------------------------------------------------- kernel learning curves
#
# Predicted test error of kernel ridge regression on sphere inputs from the kernel's spectrum
# (docs/theory.md, "Predicted kernel learning curves"): the deterministic equivalent of
# Canatar, Bordelon & Pehlevan (2021) and Simon et al. (2021), written per harmonic degree.

# The kernel ridge grid of the presets' tuning protocol (``tuning.kernel.ridge``).
KERNEL_RIDGE_GRID: tuple[float, ...] = (1e-10, 1e-8, 1e-6, 1e-4, 1e-2)
# Degrees above max_degree are lumped into an effective ridge, which is accurate while their
# eigenvalues are far below kappa: max_degree grows until lambda_L <= TAIL_RATIO * kappa.
TAIL_RATIO = 1e-3
MAX_DEGREE_CAP = 400


@dataclass(frozen=True)
class KernelLearningCurve:
    """Predicted relative test error of kernel ridge regression against n.

    Attributes:
        n: (k,) sample sizes.
        error: (k,) predicted relative test error E (f_hat - f*)^2 / E f*^2 at the chosen ridge.
        ridge: (k,) the ridge r of each n (the grid value of least predicted error).
        kappa: (k,) the effective regularisation kappa at that ridge.
        errors: (k, len(ridges)) predicted error at every ridge of the grid.
        ridges: the ridge grid.
        spectrum: the kernel's [`KernelSpectrum`][hierlearn.kernels.KernelSpectrum], resolved up to
            ``spectrum.max_degree``; the higher degrees are lumped (``spectrum.tail``).
        power: (max_degree + 1,) the target's power per degree.
        noise_variance: sigma^2 of the label noise.
    """

    n: object
    error: object
    ridge: object
    kappa: object
    errors: object
    ridges: tuple[float, ...]
    spectrum: object
    power: object
    noise_variance: float = 0.0

    @property
    def max_degree(self) -> int:
        return self.spectrum.max_degree


def target_degree_power(target) -> dict[int, float]:
    """{degree l: E (P_l f*)^2}, the power of a target in each degree of spherical harmonics.

    ``target`` is a [`LowRankPolynomial`][hierlearn.LowRankPolynomial] with the ``gegenbauer`` basis
    (sphere inputs): component s is alpha_s sqrt(N(d, p_s)) Q_{p_s}(<beta_s, x> / sqrt d), a
    degree-p_s zonal harmonic, and E phi_p(<a, x>) phi_p(<b, x>) = Q_p(<a, b>), so the power in
    degree l is the sum over the components of degree l of alpha_s alpha_t Q_l(<beta_s,
    beta_t>). A mapping {degree: power} is returned as floats.
    """
    from collections.abc import Mapping

    from .polynomials import gegenbauer

    if isinstance(target, Mapping):
        power = {check_int("degree", k, minimum=0): float(v) for k, v in target.items()}
        if any(v < 0 for v in power.values()) or sum(power.values()) <= 0:
            raise ValueError(f"the powers per degree must be >= 0, not all 0; got {target!r}")
        return power
    if getattr(target, "basis", None) != "gegenbauer" or target.input_law != "sphere":
        raise ValueError(
            "the predicted learning curve is for sphere inputs and a target of known harmonic "
            "content: a LowRankPolynomial with basis='gegenbauer', or a {degree: power} "
            f"mapping; got {target!r}"
        )
    alpha = target.coefficients.tolist()
    inner = (target.directions @ target.directions.T).clamp(-1.0, 1.0)
    power: dict[int, float] = {}
    for s, ps in enumerate(target.degrees):
        for t, pt in enumerate(target.degrees):
            if ps == pt:
                value = float(gegenbauer(ps, target.d, inner[s, t].reshape(1))[0])
                power[ps] = power.get(ps, 0.0) + alpha[s] * alpha[t] * value
    return power


def effective_regularization(
    eigenvalues, multiplicities, n: float, shift: float, tail: float = 0.0
) -> float:
    """kappa > 0 solving n = sum_l N_l lambda_l / (lambda_l + kappa) + (shift + tail) / kappa.

    ``shift`` is the ridge of (K + shift I) alpha = y (n r in our convention) and ``tail`` the
    trace of the degrees not listed, whose eigenvalues are << kappa (lambda / (lambda + kappa)
    ~ lambda / kappa). Returns 0.0 when shift + tail = 0 and n >= the number of nonzero
    eigenvalues (a finite-rank kernel that interpolates).
    """
    import numpy as np
    from scipy.optimize import brentq

    lam = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0.0, None)
    mult = np.asarray(multiplicities, dtype=np.float64)
    floor = shift + max(tail, 0.0)
    if floor <= 0 and n >= mult[lam > 0].sum():
        return 0.0
    trace = float((lam * mult).sum()) + floor

    def excess(log_kappa):
        kappa = math.exp(log_kappa)
        return float((mult * lam / (lam + kappa)).sum()) + floor / kappa - n

    # excess(trace / n) <= 0 since lambda / (lambda + kappa) <= lambda / kappa; and
    # excess(floor / n) >= 0.
    upper = math.log(trace / n)
    lower = math.log(floor / n) if floor > 0 else upper - 10.0
    while excess(lower) < 0:
        lower -= 10.0
    if excess(upper) >= 0:
        return math.exp(upper)
    return math.exp(brentq(excess, lower, upper, xtol=1e-13, rtol=1e-13))


def kernel_ridge_error(
    eigenvalues,
    multiplicities,
    power,
    n: float,
    ridge: float,
    noise_variance: float = 0.0,
    tail: float = 0.0,
) -> tuple[float, float]:
    """(predicted relative test error, kappa) of kernel ridge regression, ridge r, n points.

    Per degree l: eigenvalue lambda_l, multiplicity N_l, target power P_l. With our ridge
    convention alpha = (K + n r I)^{-1} y (`hierlearn.linalg`), kappa solves
    n = sum_l N_l L_l + (n r + tail) / kappa with the learnabilities L_l = lambda_l / (lambda_l
    + kappa); with gamma = sum_l N_l L_l^2 / n,

        E (f_hat - f*)^2 = (sum_l (1 - L_l)^2 P_l + sigma^2 gamma) / (1 - gamma),

    returned divided by E f*^2 = sum_l P_l (the harness's relative test error, against the
    noise-free f*). The lumped tail enters kappa's equation only (its L_l^2 are neglected and
    it carries no target power).
    """
    import numpy as np

    lam = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0.0, None)
    mult = np.asarray(multiplicities, dtype=np.float64)
    powers = np.asarray(power, dtype=np.float64)
    kappa = effective_regularization(lam, mult, n, n * ridge, tail)
    learnability = (lam > 0).astype(np.float64) if kappa == 0 else lam / (lam + kappa)
    gamma = float((mult * learnability**2).sum()) / n
    if gamma >= 1.0:
        return math.inf, kappa
    bias = float(((1.0 - learnability) ** 2 * powers).sum())
    error = (bias + noise_variance * gamma) / (1.0 - gamma)
    return error / float(powers.sum()), kappa


def _evaluate(result, powers, sizes, ridges, noise_variance):
    """(errors, kappas), each (len(sizes), len(ridges)), from one spectrum."""
    import numpy as np

    lam = np.clip(result.eigenvalues, 0.0, None)
    tail = max(result.tail, 0.0)
    errors = np.empty((len(sizes), len(ridges)))
    kappas = np.empty_like(errors)
    for i, size in enumerate(sizes):
        for j, r in enumerate(ridges):
            errors[i, j], kappas[i, j] = kernel_ridge_error(
                lam, result.multiplicities, powers, size, r, noise_variance, tail
            )
    return errors, kappas


def _curve(result, powers, sizes, ridges, noise_variance) -> KernelLearningCurve:
    import numpy as np

    errors, kappas = _evaluate(result, powers, sizes, ridges, noise_variance)
    best = np.argmin(errors, axis=1)
    rows = np.arange(len(sizes))
    return KernelLearningCurve(
        sizes,
        errors[rows, best],
        np.asarray(ridges)[best],
        kappas[rows, best],
        errors,
        ridges,
        result,
        powers,
        noise_variance,
    )


def kernel_learning_curve(
    target,
    n,
    *,
    d: int | None = None,
    kind: str = "ntk",
    activation: str = "relu",
    input_bias: float = 0.0,
    representation=None,
    ridge=KERNEL_RIDGE_GRID,
    noise_std: float | None = None,
    max_degree: int | None = None,
) -> KernelLearningCurve:
    """Predicted relative test error of kernel ridge regression on sphere inputs against n.

    The kernel is one of [`hierlearn.kernels`][] (arguments as
    [`hierlearn.kernels.spectrum`][]: ``kind``, ``activation``, ``input_bias`` - the
    constant coordinate of [`KernelRegressor`][hierlearn.KernelRegressor] - and ``representation``),
    its spectrum computed per harmonic degree; the error follows from
    [`kernel_ridge_error`][hierlearn.theory.kernel_ridge_error]. At each n the ridge is the value of
    the grid ``ridge`` with
    the least predicted error: the harness chooses it on a validation set, which approximates
    that choice.

    Args:
        target: a ``gegenbauer`` [`LowRankPolynomial`][hierlearn.LowRankPolynomial] (sphere inputs),
            or a
            {degree: power} mapping (then ``d`` is required).
        n: a sample size or a sequence of them.
        d: input dimension (default ``target.d``).
        ridge: a ridge r (convention of `hierlearn.linalg`) or a grid of them (default the
            presets' grid `KERNEL_RIDGE_GRID`).
        noise_std: label noise sigma (default the target's ``noise_std``, else 0).
        max_degree: the last degree resolved (default: grown from max(2 p + 4, 12) until
            lambda_L <= TAIL_RATIO kappa at every n and ridge, at most MAX_DEGREE_CAP);
            higher degrees are lumped into an effective ridge (their trace).

    Returns:
        [`KernelLearningCurve`][hierlearn.theory.KernelLearningCurve].
    """
    import numpy as np

    from .kernels.spectra import spectrum

    sizes = np.atleast_1d(np.asarray(n, dtype=np.float64))
    if sizes.size == 0 or np.any(sizes < 1):
        raise ValueError(f"n must be >= 1, got {n!r}")
    ridges = tuple(float(r) for r in np.atleast_1d(np.asarray(ridge, dtype=np.float64)))
    if not ridges or min(ridges) < 0:
        raise ValueError(f"ridge must be >= 0 (a number or a non-empty grid), got {ridge!r}")
    if noise_std is None:
        noise_std = float(getattr(target, "noise_std", 0.0))
    noise_variance = float(noise_std) ** 2
    if d is None:
        d = getattr(target, "d", None)
        if d is None:
            raise ValueError("d is needed when the target is a {degree: power} mapping")
    power = target_degree_power(target)
    top = max(power)
    if max_degree is None:
        degree, grow = max(2 * top + 4, 12), True
    else:
        degree, grow = max(check_int("max_degree", max_degree, minimum=0), top), False
    while True:
        result = spectrum(
            kind,
            d,
            degree,
            activation=activation,
            input_bias=input_bias,
            representation=representation,
        )
        powers = np.zeros(degree + 1)
        for k, v in power.items():
            powers[k] = v
        curve = _curve(result, powers, sizes, ridges, noise_variance)
        last = float(np.clip(result.eigenvalues[-2:], 0.0, None).max())
        resolved = result.tail <= 0 or last <= TAIL_RATIO * float(curve.kappa.min())
        if not grow or resolved or degree >= MAX_DEGREE_CAP:
            return curve
        degree = min(2 * degree, MAX_DEGREE_CAP)


def predicted_n_star(eps: float, target, *, n_max: float = 1e10, **kernel) -> float:
    """The n at which [`kernel_learning_curve`][hierlearn.theory.kernel_learning_curve]'s predicted
    error (ridge chosen per n
    from the grid) first falls to ``eps``: a real number found by bisection in log n
    between the points of a grid of 8 per decade, or ``math.inf`` when ``eps`` is not reached
    by ``n_max``. ``kernel`` takes the keyword arguments of
    [`kernel_learning_curve`][hierlearn.theory.kernel_learning_curve]."""
    import numpy as np

    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    start = 1.0
    while start < n_max:
        grid = np.geomspace(start, min(10 * start, n_max), 9)
        curve = kernel_learning_curve(target, grid, **kernel)
        below = np.nonzero(curve.error <= eps)[0]
        if len(below):
            break
        start *= 10
    else:
        return math.inf
    first = int(below[0])
    if first == 0:
        return float(grid[0])
    lower, upper = math.log(grid[first - 1]), math.log(grid[first])
    result, powers = curve.spectrum, curve.power
    for _ in range(50):
        middle = 0.5 * (lower + upper)
        error = _curve(result, powers, [math.exp(middle)], curve.ridges, curve.noise_variance)
        if error.error[0] <= eps:
            upper = middle
        else:
            lower = middle
    return math.exp(upper)
