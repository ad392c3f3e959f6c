"""Activation functions.

Two families live here:

* **Trainable activations** of the two-layer network (docs/theory.md §1; their kernels
  §1.3), each carrying ``act``, its first derivative ``d1`` and second derivative ``d2`` as
  torch functions.
  The linearised (NTK) model uses ``d1``, the quadratic Taylor model uses ``d2``.
* **Representation activations** of the fixed random network ``h``: relu, step, sign, tanh,
  erf, ``monomial-k`` (t^k) and ``hermite-k`` (He_k(t) / sqrt(k!), unit variance under a
  standard normal argument).

Next to each activation sits its **Gaussian dual**, the infinite-width kernel map

    dual(c, q1, q2) = E[f(u) f(u')],   (u, u') ~ N(0, [[q1, c], [c, q2]]),

in closed form where one exists (arc-cosine kernels for relu, step and the relu powers; sign,
erf and the quadratic exactly). Activations without one (tanh, softplus, gelu, monomials,
Hermite polynomials) carry ``None`` and are integrated by `hierlearn.kernels.gaussian`
(a Hermite series in the correlation, exact for polynomials).

Each family is one registry of records that carry everything about an activation: a
[`TrainableActivation`][hierlearn.activations.TrainableActivation] (``act``, ``d1``, ``d2``,
``nngp_dual``, ``ntk_dual``) and a
[`RepresentationActivation`][hierlearn.activations.RepresentationActivation] (``function``,
``dual``, ``degree``). The kernels of
[`hierlearn.kernels`][] read their Gaussian maps from these records and from nowhere else.
Names are looked up with [`trainable_activation`][hierlearn.activations.trainable_activation] and
[`representation_activation`][hierlearn.activations.representation_activation],
which raise ``ValueError`` listing the accepted names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._validation import check_choice
from .polynomials import hermite_polynomial

Elementwise = Callable[[torch.Tensor], torch.Tensor]
# dual(c, q1, q2): c of shape (n1, n2), q1 of shape (n1, 1), q2 of shape (1, n2).
Dual = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _normal_pdf(t: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * t * t) * _INV_SQRT_2PI


def _normal_cdf(t: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(t / math.sqrt(2.0)))


def _step(t: torch.Tensor) -> torch.Tensor:
    # Indicator 1{t >= 0} (the derivative of relu away from 0).
    return (t >= 0).to(t.dtype)


def _correlation(c: torch.Tensor, q1: torch.Tensor, q2: torch.Tensor):
    """(rho, sqrt(q1 q2)) with rho = c / sqrt(q1 q2) clipped to [-1, 1] (0 where q1 q2 = 0).

    sqrt(q q) = q exactly in floating point, so rho = 1 exactly where c = q1 = q2: arccos is
    steep there, and 1 - 1e-16 would cost 1e-8.
    """
    scale = torch.sqrt(q1 * q2)
    rho = c / scale.clamp_min(torch.finfo(c.dtype).tiny)
    return rho.clamp_(-1.0, 1.0), scale


@dataclass(frozen=True)
class ArcCosineDual:
    """Gaussian dual of t -> coefficient * relu(t)^order (order 0: the step 1{t >= 0}).

    Cho & Saul's arc-cosine kernels: with rho = cos(theta) = c / sqrt(q1 q2),

        E[relu(u)^n relu(u')^n] = (q1 q2)^{n/2} J_n(theta) / (2 pi),
        J_0 = pi - theta,                      J_1 = sin + (pi - theta) rho,
        J_2 = 3 sin rho + (pi - theta)(1 + 2 rho^2),
        J_3 = sin (11 rho^2 + 4) + (pi - theta)(6 rho^3 + 9 rho),   sin = sqrt(1 - rho^2),

    J_n(theta) = (-1)^n sin^{2n+1} (1/sin d/dtheta)^n ((pi - theta)/sin) (Cho & Saul 2009,
    eq. (3)). A point with q = 0 is treated as the limit of a small variance (for the step this
    differs from 1{0 >= 0} = 1; it never arises for non-zero inputs).

    The map factors into a function of the correlation alone and the per-point scales
    q^{n/2}: [`of_correlation`][hierlearn.activations.ArcCosineDual.of_correlation] is the first
    factor, which lets a kernel compute rho once
    per block from per-point norms (`hierlearn.kernels.analytic`) and apply the scales
    as row and column factors.

    Attributes:
        order: n in {0, 1, 2, 3}.
        coefficient: the activation's constant factor.
    """

    order: int
    coefficient: float = 1.0

    def __post_init__(self):
        if self.order not in (0, 1, 2, 3):
            raise ValueError(f"order must be 0, 1, 2 or 3, got {self.order!r}")

    @property
    def factor(self) -> float:
        """coefficient^2 / (2 pi)."""
        return self.coefficient * self.coefficient / (2.0 * math.pi)

    def of_correlation(self, rho: torch.Tensor) -> torch.Tensor:
        """factor * J_n(theta) at correlations ``rho`` in [-1, 1] (a new tensor; rho is kept)."""
        factor = self.factor
        # acos(rho) - pi = -(pi - theta): the sign is folded into the constant factors below.
        angle = torch.acos(rho).sub_(math.pi)
        if self.order == 0:
            return angle.mul_(-factor)
        sine = torch.mul(rho, rho).neg_().add_(1.0).clamp_(min=0.0).sqrt_()
        if self.order == 1:
            value = angle.mul_(rho).sub_(sine)
        elif self.order == 2:
            even = torch.mul(rho, rho).mul_(2.0).add_(1.0)
            value = angle.mul_(even).sub_(sine.mul_(rho).mul_(3.0))
        else:
            square = torch.mul(rho, rho)
            odd = square.mul(6.0).add_(9.0).mul_(rho)
            value = angle.mul_(odd).sub_(sine.mul_(square.mul_(11.0).add_(4.0)))
        return value.mul_(-factor)

    def __call__(self, c: torch.Tensor, q1: torch.Tensor, q2: torch.Tensor) -> torch.Tensor:
        rho, scale = _correlation(c, q1, q2)
        value = self.of_correlation(rho)
        return value if self.order == 0 else value.mul_(scale.pow_(self.order))


def arccos_dual(order: int, coefficient: float = 1.0) -> ArcCosineDual:
    """The [`ArcCosineDual`][hierlearn.activations.ArcCosineDual] of t -> coefficient *
    relu(t)^order (order 0: the step)."""
    return ArcCosineDual(order, coefficient)


def _sign_dual(c, q1, q2):
    # E[sign(u) sign(u')] = (2 / pi) arcsin(rho) (Grothendieck's identity).
    rho = _correlation(c, q1, q2)[0]
    return torch.asin(rho).mul_(2.0 / math.pi)


def _erf_dual(c, q1, q2):
    # E[erf(u) erf(u')] = (2 / pi) arcsin(2c / sqrt((1 + 2 q1)(1 + 2 q2))) (Williams 1997).
    argument = 2.0 * c / torch.sqrt((1.0 + 2.0 * q1) * (1.0 + 2.0 * q2))
    return torch.asin(argument.clamp_(-1.0, 1.0)).mul_(2.0 / math.pi)


def _quadratic_nngp(c, q1, q2):
    # E[u^2 u'^2] / 4 = (q1 q2 + 2 c^2) / 4 (Isserlis).
    return (c * c).mul_(2.0).add_(q1 * q2).mul_(0.25)


def _identity_dual(c, q1, q2):
    # E[u u'] = c.
    return c.clone()


@dataclass(frozen=True)
class TrainableActivation:
    """An activation of the trainable layer with its first two derivatives.

    Attributes:
        name: registry name.
        act: t -> act(t).
        d1: t -> act'(t).
        d2: t -> act''(t).
        nngp_dual: closed form of (c, q1, q2) -> E[act(u) act(u')], or None (integrated
            numerically by [`hierlearn.kernels`][]).
        ntk_dual: closed form of (c, q1, q2) -> E[act'(u) act'(u')], or None.
    """

    name: str
    act: Elementwise
    d1: Elementwise
    d2: Elementwise
    nngp_dual: Dual | None = None
    ntk_dual: Dual | None = None


def _tanh_d1(t):
    return 1.0 - torch.tanh(t) ** 2


def _tanh_d2(t):
    th = torch.tanh(t)
    return -2.0 * th * (1.0 - th * th)


def _sigmoid_d1(t):
    s = torch.sigmoid(t)
    return s * (1.0 - s)


_TRAINABLE = {
    # relu: act' = indicator, act'' = 0, so its quadratic term vanishes (NTK only).
    "relu": TrainableActivation(
        "relu", torch.relu, _step, torch.zeros_like, arccos_dual(1), arccos_dual(0)
    ),
    # relu2 = relu(t)^2 / 2: act' = relu, act'' = indicator.
    "relu2": TrainableActivation(
        "relu2",
        lambda t: 0.5 * torch.relu(t) ** 2,
        torch.relu,
        _step,
        arccos_dual(2, 0.5),
        arccos_dual(1),
    ),
    # relu3 = relu(t)^3 / 6: act' = relu^2 / 2, act'' = relu.
    "relu3": TrainableActivation(
        "relu3",
        lambda t: torch.relu(t) ** 3 / 6.0,
        lambda t: 0.5 * torch.relu(t) ** 2,
        torch.relu,
        arccos_dual(3, 1.0 / 6.0),
        arccos_dual(2, 0.5),
    ),
    "quadratic": TrainableActivation(
        "quadratic",
        lambda t: 0.5 * t * t,
        lambda t: t,
        torch.ones_like,
        _quadratic_nngp,
        _identity_dual,
    ),
    "tanh": TrainableActivation("tanh", torch.tanh, _tanh_d1, _tanh_d2),
    "softplus": TrainableActivation(
        "softplus", torch.nn.functional.softplus, torch.sigmoid, _sigmoid_d1
    ),
    "gelu": TrainableActivation(
        "gelu",
        lambda t: t * _normal_cdf(t),
        lambda t: _normal_cdf(t) + t * _normal_pdf(t),
        lambda t: _normal_pdf(t) * (2.0 - t * t),
    ),
}

TRAINABLE_ACTIVATIONS: tuple[str, ...] = tuple(_TRAINABLE)


def trainable_activation(name) -> TrainableActivation:
    """Return the trainable activation called ``name`` (a
    [`TrainableActivation`][hierlearn.activations.TrainableActivation] passes)."""
    if isinstance(name, TrainableActivation):
        return name
    return _TRAINABLE[check_choice("activation", name, TRAINABLE_ACTIVATIONS)]


@dataclass(frozen=True)
class RepresentationActivation:
    """An activation of the fixed random representation with its Gaussian dual.

    Calling it applies the function elementwise.

    Attributes:
        name: registry name ("relu", "hermite-2", ...).
        function: t -> act_h(t).
        dual: closed form of (c, q1, q2) -> E[act_h(u) act_h(u')], or None (integrated by
            `hierlearn.kernels.gaussian`).
        degree: the polynomial degree of ``monomial-k`` and ``hermite-k`` (their Hermite
            series is exact at that degree), None otherwise.
    """

    name: str
    function: Elementwise
    dual: Dual | None = None
    degree: int | None = None

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return self.function(t)


# relu and step are arc-cosine kernels (`arccos_dual`), sign gives (2/pi) arcsin(rho) and
# erf (2/pi) arcsin(2c / sqrt((1 + 2 q1)(1 + 2 q2))); tanh has no closed form.
_REPRESENTATION = {
    "relu": RepresentationActivation("relu", torch.relu, arccos_dual(1)),
    "step": RepresentationActivation("step", _step, arccos_dual(0)),
    "sign": RepresentationActivation(
        "sign", lambda t: torch.where(t >= 0, 1.0, -1.0).to(t.dtype), _sign_dual
    ),
    "tanh": RepresentationActivation("tanh", torch.tanh),
    "erf": RepresentationActivation("erf", torch.erf, _erf_dual),
}
_PARAMETRIC = re.compile(r"^(monomial|hermite)-([1-9][0-9]?)$")

REPRESENTATION_ACTIVATIONS: tuple[str, ...] = (*_REPRESENTATION, "monomial-k", "hermite-k")


def parse_representation_activation(name) -> tuple[str, int | None]:
    """Split a representation activation name into (family, degree), e.g. "hermite-2"."""
    if isinstance(name, str):
        if name in _REPRESENTATION:
            return name, None
        match = _PARAMETRIC.match(name)
        if match:
            return match.group(1), int(match.group(2))
    raise ValueError(
        f"activation={name!r} is not valid; accepted values: "
        f"{', '.join(map(repr, _REPRESENTATION))}, 'monomial-k', 'hermite-k' "
        "(k an integer from 1 to 99, e.g. 'hermite-2')"
    )


def representation_activation(name) -> RepresentationActivation:
    """The representation activation ``name`` (a
    [`RepresentationActivation`][hierlearn.activations.RepresentationActivation] passes)."""
    if isinstance(name, RepresentationActivation):
        return name
    family, degree = parse_representation_activation(name)
    if degree is None:
        return _REPRESENTATION[family]
    if family == "monomial":
        return RepresentationActivation(name, lambda t: t**degree, None, degree)
    scale = 1.0 / math.sqrt(math.factorial(degree))
    return RepresentationActivation(
        name, lambda t: hermite_polynomial(degree, t) * scale, None, degree
    )
