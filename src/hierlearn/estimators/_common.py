"""Small helpers shared by the estimators: relative error, input bias, ridge grids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._validation import check_float


def with_input_bias(X: np.ndarray, input_bias: float) -> np.ndarray:
    """Append a constant column of value ``input_bias`` to X (no-op when it is 0).

    The trainable layer's models (f^L, f^Q, f_{W0+W}) have no bias: with act'' = step, f^Q is
    a homogeneous quadratic in z and f^L with act' = step is homogeneous of degree one, so on
    inputs whose norm varies (gaussian x) they cannot represent a constant or lower-degree
    part of the target. A constant input coordinate is the first layer's bias, initialised
    and trained like every other weight. The estimators default to ``input_bias=1.0``;
    ``input_bias=0`` is the paper's bias-free model (arXiv 2006.13436, docs/theory.md §1).
    """
    if input_bias == 0:
        return X
    return np.hstack([X, np.full((X.shape[0], 1), input_bias, dtype=X.dtype)])


def penalty_grid(name: str, value) -> list[float]:
    """A penalty parameter (``name``: a kernel's ``ridge``, a quadratic form's ``reg``) as a
    non-empty list of floats >= 0, from a number or a sequence of numbers (a path)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    if not values:
        raise ValueError(f"{name} must be a number >= 0 or a non-empty list of them")
    return [check_float(name, v, minimum=0.0) for v in values]


def ridge_grid(ridge) -> list[float]:
    """``ridge`` as a non-empty list of floats >= 0 (see `penalty_grid`)."""
    return penalty_grid("ridge", ridge)
