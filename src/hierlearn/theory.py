"""Predicted sample-complexity exponents (SPEC section 1, arXiv 2006.13436).

For a low-rank target of degree p in dimension d, the number of samples a learner needs grows
like d^e; this module returns e.

===========  ===================================================  ==============
learner      what it is                                           exponent e
===========  ===================================================  ==============
``ntk-x``    linearised (NTK) two-layer net / its kernel, raw x   p
``ntk-h``    the same on a random representation h(x)             p (lower bound)
``quad-x``   quadratic Taylor model on raw x (Bai & Lee 2020)     p - 1 (upper bound)
``quad-h``   quadratic Taylor model on the whitened h(x)          ceil(p / 2)
``info``     any method (r d parameters)                          1
===========  ===================================================  ==============

For p <= 2 every learner except the information limit is at its best; ``quad-x`` is then
bounded below by 1 as well (a target of degree 1 or 2 still needs about d samples).
"""

from __future__ import annotations

import math

from ._validation import check_choice, check_int

LEARNERS: tuple[str, ...] = ("ntk-x", "ntk-h", "quad-x", "quad-h", "info")


def predicted_exponent(learner: str, p: int) -> float:
    """Exponent e of the predicted sample complexity n ~ d^e for a degree-``p`` target.

    Args:
        learner: one of ``"ntk-x"``, ``"ntk-h"``, ``"quad-x"``, ``"quad-h"``, ``"info"``
            (case-insensitive; ``"ntk_x"`` and ``"NTK-x"`` are accepted too).
        p: degree of the target polynomial, p >= 1.

    Returns:
        The exponent as a float.
    """
    key = learner.lower().replace("_", "-") if isinstance(learner, str) else learner
    check_choice("learner", key, LEARNERS)
    p = check_int("p", p, minimum=1)
    if key in ("ntk-x", "ntk-h"):
        return float(p)
    if key == "quad-x":
        return float(max(p - 1, 1))
    if key == "quad-h":
        return float(math.ceil(p / 2))
    return 1.0
