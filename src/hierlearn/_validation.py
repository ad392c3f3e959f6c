"""Argument checking.

The first part serves the functions and classes that are not scikit-learn estimators: every
check raises ``ValueError`` with a message that names the argument and, where the argument
takes one of a fixed set of values, the accepted values. The estimators check their
parameters with scikit-learn's ``_parameter_constraints`` and their data with scikit-learn's
``validate_data``; the second part holds what they share (constraints, thin wrappers).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_array, check_consistent_length, column_or_1d
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import validate_data

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


# ---------------------------------------------------------------- scikit-learn estimators

# Input dtypes kept as they are; anything else numeric (ints, object arrays of numbers) becomes
# float64. Complex, string and sparse input are refused by scikit-learn's ``check_array``.
FLOAT_DTYPES = (np.float64, np.float32)

# Constraints shared by several estimators (scikit-learn's ``_parameter_constraints``).
NON_NEGATIVE = Interval(Real, 0, None, closed="left")
DEVICE_CONSTRAINT = [str, torch.device]
DTYPE_CONSTRAINT = ["float32", "float64"]  # wrapped in StrOptions by each estimator
# What `hierlearn._random.make_generator` accepts.
RANDOM_STATE_CONSTRAINT = [
    None,
    Interval(Integral, 0, None, closed="left"),
    np.random.Generator,
    torch.Generator,
]


def check_fit_data(estimator, X, y, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) checked by scikit-learn: a finite 2-D float array and a 1-D numeric y.

    Sets ``n_features_in_``; a column vector y is accepted with a ``DataConversionWarning``.
    """
    return validate_data(estimator, X, y, dtype=FLOAT_DTYPES, y_numeric=True, **kwargs)


def check_predict_data(estimator, X) -> np.ndarray:
    """X checked against the fitted ``n_features_in_`` (scikit-learn's message if not)."""
    return validate_data(estimator, X, dtype=FLOAT_DTYPES, reset=False)


def check_validation_data(estimator, X_val, y_val) -> tuple[np.ndarray, np.ndarray]:
    """Validation data passed to ``fit``, checked like the training data."""
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together")
    X_val = check_array(X_val, dtype=FLOAT_DTYPES, input_name="X_val")
    if X_val.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X_val has {X_val.shape[1]} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input"
        )
    y_val = column_or_1d(y_val, warn=True, dtype=np.float64)
    if not np.all(np.isfinite(y_val)):
        raise ValueError("Input y_val contains NaN or infinity.")
    check_consistent_length(X_val, y_val)
    return X_val, y_val


def as_tensor(X: np.ndarray, dtype: torch.dtype, device) -> torch.Tensor:
    """A numpy array as a torch tensor (read-only arrays are copied, torch needs writable)."""
    if isinstance(X, np.ndarray) and not X.flags.writeable:
        X = X.copy()
    return torch.as_tensor(X, dtype=dtype, device=device)


def torch_tags(tags, device):
    """scikit-learn tags common to the torch-backed estimators.

    ``non_deterministic`` on CUDA: PyTorch guarantees bitwise reproducibility there only with
    ``torch.use_deterministic_algorithms``, which we do not switch on; on the CPU a fixed
    ``random_state`` gives the same fit.
    """
    try:
        on_cuda = torch.device(device).type == "cuda"
    except (RuntimeError, TypeError):  # an invalid device is refused by fit, not here
        on_cuda = False
    tags.non_deterministic = on_cuda
    return tags
