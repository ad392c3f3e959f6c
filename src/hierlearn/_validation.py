"""Argument checking and array conversion shared by every module.

Every check raises ``ValueError`` with a message that names the argument and, where the
argument takes one of a fixed set of values, the accepted values.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np
import torch

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def check_choice(name: str, value, accepted: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``accepted``; otherwise raise a ``ValueError``."""
    accepted = list(accepted)
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(
            f"{name}={value!r} is not valid; accepted values: {', '.join(map(repr, accepted))}"
        )
    return value


def check_int(name: str, value, minimum: int | None = None) -> int:
    """Return ``value`` as an int, checking its type and lower bound."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(name: str, value, minimum: float | None = None, strict: bool = False) -> float:
    """Return ``value`` as a finite float, checking its lower bound (``> minimum`` if strict)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be {relation} {minimum}, got {value}")
    return value


def resolve_dtype(dtype) -> torch.dtype:
    """Map ``"float32"`` / ``"float64"`` (or the torch dtypes themselves) to a torch dtype."""
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    return _DTYPES[check_choice("dtype", dtype, _DTYPES)]


def resolve_device(device) -> torch.device:
    """Check ``device`` ("cpu", "cuda", "cuda:N") and that it exists on this machine."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device={device!r} is not valid; accepted values: 'cpu', 'cuda'"
        ) from error
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r} is not valid; accepted values: 'cpu', 'cuda'")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but no CUDA device is available")
    return resolved


def check_matrix(name: str, X, n_features: int | None = None) -> np.ndarray:
    """Return ``X`` as a finite 2-D float array of shape (n_samples, n_features)."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    try:
        X = np.asarray(X)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric array: {error}") from error
    if X.dtype == object or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{name} must be a numeric array, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_features), got shape {X.shape}"
        )
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must have at least one sample and one feature, got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but the estimator was fitted with {n_features}"
        )
    return X


def check_targets(name: str, y, n_samples: int) -> np.ndarray:
    """Return ``y`` as a finite 1-D float array of length ``n_samples``."""
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (n_samples,), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {y.dtype}")
    if y.shape[0] != n_samples:
        raise ValueError(f"{name} has {y.shape[0]} entries but X has {n_samples} samples")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return y
