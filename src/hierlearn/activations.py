"""Activation functions.

Two families live here:

* **Trainable activations** of the two-layer network (SPEC section 2), each carrying
  ``act``, its first derivative ``d1`` and second derivative ``d2`` as torch functions.
  The linearised (NTK) model uses ``d1``, the quadratic Taylor model uses ``d2``.
* **Representation activations** of the fixed random network ``h``: relu, step, sign, tanh,
  erf, ``monomial-k`` (t^k) and ``hermite-k`` (He_k(t) / sqrt(k!), unit variance under a
  standard normal argument).

Names are looked up with :func:`trainable_activation` and :func:`representation_activation`,
which raise ``ValueError`` listing the accepted names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._validation import check_choice

Elementwise = Callable[[torch.Tensor], torch.Tensor]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _normal_pdf(t: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * t * t) * _INV_SQRT_2PI


def _normal_cdf(t: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(t / math.sqrt(2.0)))


def _step(t: torch.Tensor) -> torch.Tensor:
    # Indicator 1{t >= 0} (the derivative of relu away from 0).
    return (t >= 0).to(t.dtype)


@dataclass(frozen=True)
class TrainableActivation:
    """An activation of the trainable layer with its first two derivatives.

    Attributes:
        name: registry name.
        act: t -> act(t).
        d1: t -> act'(t).
        d2: t -> act''(t).
    """

    name: str
    act: Elementwise
    d1: Elementwise
    d2: Elementwise


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
    "relu": TrainableActivation("relu", torch.relu, _step, torch.zeros_like),
    # relu2 = relu(t)^2 / 2: act' = relu, act'' = indicator.
    "relu2": TrainableActivation(
        "relu2", lambda t: 0.5 * torch.relu(t) ** 2, torch.relu, _step
    ),
    # relu3 = relu(t)^3 / 6: act' = relu^2 / 2, act'' = relu.
    "relu3": TrainableActivation(
        "relu3",
        lambda t: torch.relu(t) ** 3 / 6.0,
        lambda t: 0.5 * torch.relu(t) ** 2,
        torch.relu,
    ),
    "quadratic": TrainableActivation(
        "quadratic", lambda t: 0.5 * t * t, lambda t: t, torch.ones_like
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
    """Return the trainable activation called ``name`` (a :class:`TrainableActivation` passes)."""
    if isinstance(name, TrainableActivation):
        return name
    return _TRAINABLE[check_choice("activation", name, TRAINABLE_ACTIVATIONS)]


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


_FIXED_REPRESENTATION = {
    "relu": torch.relu,
    "step": _step,
    "sign": lambda t: torch.where(t >= 0, 1.0, -1.0).to(t.dtype),
    "tanh": torch.tanh,
    "erf": torch.erf,
}
_PARAMETRIC = re.compile(r"^(monomial|hermite)-([1-9][0-9]?)$")

REPRESENTATION_ACTIVATIONS: tuple[str, ...] = (*_FIXED_REPRESENTATION, "monomial-k", "hermite-k")


def parse_representation_activation(name) -> tuple[str, int | None]:
    """Split a representation activation name into (family, degree), e.g. "hermite-2"."""
    if isinstance(name, str):
        if name in _FIXED_REPRESENTATION:
            return name, None
        match = _PARAMETRIC.match(name)
        if match:
            return match.group(1), int(match.group(2))
    raise ValueError(
        f"activation={name!r} is not valid; accepted values: "
        f"{', '.join(map(repr, _FIXED_REPRESENTATION))}, 'monomial-k', 'hermite-k' "
        "(k an integer from 1 to 99, e.g. 'hermite-2')"
    )


def representation_activation(name) -> Elementwise:
    """Return the elementwise function of the representation activation ``name``."""
    family, degree = parse_representation_activation(name)
    if degree is None:
        return _FIXED_REPRESENTATION[family]
    if family == "monomial":
        return lambda t: t**degree
    scale = 1.0 / math.sqrt(math.factorial(degree))
    return lambda t: hermite_polynomial(degree, t) * scale
