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

    ``width_exponent`` is the least-squares slope of log D against log d (rounded to 0.01);
    ``None`` with fewer than two distinct d (the growth cannot be read off).
    """
    import numpy as np

    if len(widths) < 2:
        return None
    dimensions = sorted(widths)
    slope = np.polyfit(np.log(dimensions), np.log([widths[d] for d in dimensions]), 1)[0]
    degrees = span_degrees(activation, depth, bias_std, max_degree=2 * max(p, 1))
    return RepresentationLaw(round(float(slope), 2), degrees)


def predicted_exponent(learner: str, p: int, representation: RepresentationLaw | None = None):
    """Exponent e of the predicted sample complexity n ~ d^e for a degree-``p`` target.

    Args:
        learner: one of ``"ntk-x"``, ``"ntk-h"``, ``"quad-x"``, ``"quad-h"``, ``"info"``
            (case-insensitive; ``"ntk_x"`` and ``"NTK-x"`` are accepted too).
        p: degree of the target polynomial, p >= 1.
        representation: the law of Quad-h's representation (width growth and span); None
            assumes the paper's D ~ d^ceil(p/2). Ignored by the other learners.

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
        if representation is None:
            return float(math.ceil(p / 2))
        if not representation.reachable(p):
            return None
        return float(representation.width_exponent)
    return 1.0


def predicted_for_learner(theory_learner: str, p: int, representations: dict[int, dict]):
    """:func:`predicted_exponent` for a learner of the harness.

    ``representations`` maps d to the resolved representation config of the learner's cells
    (``{"kind": "identity"}`` or a random network with ``width``, ``activation``, ``depth``,
    ``bias_std``). Quad-h on a random network gets its law from those configs; on raw input
    (a misnamed row) or at a single d it falls back to the paper's assumption.
    """
    law = None
    networks = {d: c for d, c in representations.items() if c.get("kind") == "random_network"}
    if networks and theory_learner.lower().replace("_", "-") == "quad-h":
        any_config = next(iter(networks.values()))
        law = representation_law(
            {d: int(c["width"]) for d, c in networks.items()},
            any_config.get("activation", "relu"),
            int(any_config.get("depth", 1)),
            float(any_config.get("bias_std", 0.0)),
            p,
        )
    return predicted_exponent(theory_learner, p, law)
