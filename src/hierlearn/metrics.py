"""The error every learner is measured by (docs/theory.md §1): the relative squared error

    mean_i (f_hat(x_i) - f*(x_i))^2 / mean_i f*(x_i)^2,

0 for a perfect fit and 1 for predicting 0 (targets have unit second moment). The harness
reports it on the test, training and validation sets; the estimators choose their iterate and
their ridge by it on validation data.
"""

from __future__ import annotations

import numpy as np
import torch

_TINY = 1e-300  # a target that is 0 everywhere: the error is the prediction's second moment


def relative_error(prediction, target) -> float:
    """The relative squared error of one prediction vector, in float64 (numpy or torch)."""
    if isinstance(prediction, torch.Tensor) or isinstance(target, torch.Tensor):
        prediction = torch.as_tensor(prediction).reshape(-1, 1)
        target = torch.as_tensor(target, device=prediction.device).reshape(-1)
        return relative_errors(prediction, target)[0]
    prediction = np.asarray(prediction, dtype=np.float64).reshape(-1)
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    return float(np.mean((prediction - target) ** 2) / max(np.mean(target**2), _TINY))


def relative_errors(predictions: torch.Tensor, target: torch.Tensor) -> list[float]:
    """The relative squared error of every column of ``predictions`` (n, k) against ``target``
    (n,): one per candidate of a ridge grid solved at once."""
    scale = (target.to(torch.float64) ** 2).mean().clamp_min(_TINY)
    residuals = predictions.to(torch.float64) - target.to(torch.float64)[:, None]
    return ((residuals**2).mean(dim=0) / scale).tolist()
