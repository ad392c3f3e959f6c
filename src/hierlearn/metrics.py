"""The error every learner is measured by (docs/theory.md §3): the relative squared error

    mean_i (f_hat(x_i) - f*(x_i))^2 / E f*^2,

0 for a perfect fit and 1 for predicting 0. The harness divides by the target's *exact*
second moment (`hierlearn.targets.LowRankPolynomial.second_moment`, 1 for every
normalised target), never by a sample mean of f*^2: for He_4/sqrt(24) on gaussian x,
E f*^4 = 639, and the sample mean of f*^2 over a few thousand points has a coefficient of
variation above 0.5. Without ``second_moment`` the sample mean of target^2 is used (the
estimators' own iterate and ridge choices, where only the ordering of candidates matters).
"""

from __future__ import annotations

import math

import numpy as np
import torch

_TINY = 1e-300  # a target that is 0 everywhere: the error is the prediction's second moment


def relative_error(prediction, target, second_moment: float | None = None) -> float:
    """The relative squared error of one prediction vector, in float64 (numpy or torch).

    ``second_moment``: the exact E f*^2 to divide by; None divides by the sample mean of
    ``target**2``.
    """
    if isinstance(prediction, torch.Tensor) or isinstance(target, torch.Tensor):
        prediction = torch.as_tensor(prediction).reshape(-1, 1)
        target = torch.as_tensor(target, device=prediction.device).reshape(-1)
        return relative_errors(prediction, target, second_moment)[0]
    prediction = np.asarray(prediction, dtype=np.float64).reshape(-1)
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    scale = _scale(second_moment, lambda: float(np.mean(target**2)))
    return float(np.mean((prediction - target) ** 2)) / scale


def relative_error_and_se(
    prediction, target, second_moment: float | None = None
) -> tuple[float, float]:
    """(relative squared error, its standard error) of one prediction vector (numpy).

    The standard error is that of a mean of N i.i.d. squared residuals over a fixed
    normaliser: std((f_hat - f*)^2) / sqrt(N) / E f*^2 (0 for a single point). With the exact
    ``second_moment`` it is the whole sampling error of the test estimate.
    """
    prediction = np.asarray(prediction, dtype=np.float64).reshape(-1)
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    scale = _scale(second_moment, lambda: float(np.mean(target**2)))
    squared = (prediction - target) ** 2
    count = squared.size
    spread = float(np.std(squared, ddof=1)) / math.sqrt(count) if count > 1 else 0.0
    return float(np.mean(squared)) / scale, spread / scale


def relative_errors(
    predictions: torch.Tensor, target: torch.Tensor, second_moment: float | None = None
) -> list[float]:
    """The relative squared error of every column of ``predictions`` (n, k) against ``target``
    (n,): one per candidate of a ridge grid solved at once."""
    target = target.to(torch.float64)
    scale = _scale(second_moment, lambda: float((target**2).mean()))
    residuals = predictions.to(torch.float64) - target[:, None]
    return ((residuals**2).mean(dim=0) / scale).tolist()


def _scale(second_moment: float | None, sample) -> float:
    if second_moment is None:
        return max(sample(), _TINY)
    if not second_moment > 0:
        raise ValueError(f"second_moment must be > 0, got {second_moment!r}")
    return float(second_moment)
