"""Finite-width (empirical) kernels of given random weights or of fitted estimators.

With first-layer weights W0 of shape (m, D') (rows w0_r) on inputs z in R^{D'}:

    empirical NTK(z, z')  = (1/m) sum_r act'(w0_r.z) act'(w0_r.z') <z, z'>,
    empirical NNGP(z, z') = (1/m) sum_r act(w0_r.z) act(w0_r.z'),

the kernels of the features of [`hierlearn.NTKRegressor`][] (the NTK) and of a random
first layer (the NNGP). With w0_r ~ N(0, I/D') they converge to
[`hierlearn.kernels.ntk`][] and [`hierlearn.kernels.nngp`][] as m grows, at the Monte
Carlo rate m^{-1/2}.

For a random representation h (docs/theory.md §1.3) the empirical kernel is <h(x), h(x')> / D,
optionally with the features centred by their mean over reference inputs; it converges to
[`hierlearn.kernels.representation_kernel`][].
"""

from __future__ import annotations

import numpy as np
import torch

from .._validation import resolve_dtype
from ..activations import trainable_activation
from ..representations import representation_features
from .blocks import parse_memory_budget

DEFAULT_MEMORY_BUDGET = "1GiB"


def _tensor(X, name: str, dtype: torch.dtype, device) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        X = X.detach().to(device=device, dtype=dtype)
    else:
        X = torch.as_tensor(np.asarray(X, dtype=np.float64), dtype=dtype, device=device)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_features), got shape {tuple(X.shape)}"
        )
    return X


def _neuron_average(function, W0, Z1, Z2, memory_budget) -> torch.Tensor:
    """(1/m) sum_r function(w0_r.z_i) function(w0_r.z'_j), chunked over the neurons."""
    n1, n2, width = Z1.shape[0], Z2.shape[0], W0.shape[0]
    # Per neuron: two pre-activation columns and their images, for both point sets.
    per_neuron = 4 * (n1 + n2) * Z1.element_size()
    chunk = parse_memory_budget(memory_budget) // per_neuron
    if chunk < 1:
        raise ValueError(
            f"memory_budget={memory_budget!r} is too small for one neuron ({per_neuron} bytes)"
        )
    result = Z1.new_zeros((n1, n2))
    for start in range(0, width, chunk):
        weights = W0[start : start + chunk]
        values1 = function(Z1 @ weights.T)
        values2 = values1 if Z2 is Z1 else function(Z2 @ weights.T)
        result.addmm_(values1, values2.T)
    return result.div_(width)


def _check_weights(W0, Z1, name="W0") -> None:
    if W0.ndim != 2 or W0.shape[1] != Z1.shape[1]:
        raise ValueError(f"{name} must have shape (m, {Z1.shape[1]}), got {tuple(W0.shape)}")


def _network_inputs(W0, Z1, Z2, dtype: torch.dtype):
    """W0, Z1, Z2 as tensors of ``dtype`` on W0's device (Z2 = Z1 when None), shapes checked."""
    W0 = _tensor(W0, "W0", dtype, W0.device if isinstance(W0, torch.Tensor) else "cpu")
    Z1 = _tensor(Z1, "Z1", dtype, W0.device)
    Z2 = Z1 if Z2 is None else _tensor(Z2, "Z2", dtype, W0.device)
    _check_weights(W0, Z1)
    _check_weights(W0, Z2)
    return W0, Z1, Z2


def empirical_ntk(
    W0, Z1, Z2=None, activation="relu", memory_budget=DEFAULT_MEMORY_BUDGET, dtype="float64"
) -> torch.Tensor:
    """(1/m) sum_r act'(w0_r.z) act'(w0_r.z') <z, z'> for the weights W0 (m, D').

    Args:
        W0: (m, D') first-layer weights (tensor or array); the result is on its device.
        Z1: (n1, D') inputs; Z2: (n2, D') inputs or None for Z1.
        activation: trainable activation name.
        memory_budget: working memory (bytes or a string like "1GiB"), chunked over neurons.
        dtype: computation dtype, "float64" (default) or "float32".

    Returns:
        (n1, n2) torch tensor.
    """
    W0, Z1, Z2 = _network_inputs(W0, Z1, Z2, resolve_dtype(dtype))
    slopes = _neuron_average(trainable_activation(activation).d1, W0, Z1, Z2, memory_budget)
    return slopes.mul_(Z1 @ Z2.T)


def empirical_nngp(
    W0, Z1, Z2=None, activation="relu", memory_budget=DEFAULT_MEMORY_BUDGET, dtype="float64"
) -> torch.Tensor:
    """(1/m) sum_r act(w0_r.z) act(w0_r.z') for the weights W0 (arguments as
    [`empirical_ntk`][hierlearn.kernels.empirical.empirical_ntk])."""
    W0, Z1, Z2 = _network_inputs(W0, Z1, Z2, resolve_dtype(dtype))
    return _neuron_average(trainable_activation(activation).act, W0, Z1, Z2, memory_budget)


def _gram(features1, features2, centre) -> torch.Tensor:
    if centre is not None:
        features1 = features1 - centre
        features2 = features2 - centre
    return features1 @ features2.T / features1.shape[1]


def empirical_representation_kernel(
    X1, X2=None, weights=(), biases=(), activation="relu", center=None, dtype="float64"
) -> torch.Tensor:
    """<h(x), h(x')> / D for the random layers (V_l, b_l), optionally centred.

    Args:
        X1: (n1, d) inputs; X2: (n2, d) inputs or None for X1.
        weights: the matrices V_l, shapes (D, d), (D, D), ...
        biases: the vectors b_l, shape (D,) each.
        activation: representation activation name.
        center: None, or reference inputs: the features are centred by their mean over them.
        dtype: "float64" (default) or "float32".
    """
    if len(weights) == 0 or len(biases) != len(weights):
        raise ValueError(
            f"weights, biases: one matrix and one bias vector per layer are needed, at least "
            f"one layer; got {len(weights)} matrices and {len(biases)} bias vectors"
        )
    dtype = resolve_dtype(dtype)
    device = weights[0].device if isinstance(weights[0], torch.Tensor) else "cpu"
    weights = [_tensor(weight, "weights", dtype, device) for weight in weights]
    biases = [torch.as_tensor(bias, dtype=dtype, device=device) for bias in biases]
    features1 = representation_features(
        _tensor(X1, "X1", dtype, device), weights, biases, activation
    )
    features2 = (
        features1
        if X2 is None
        else representation_features(_tensor(X2, "X2", dtype, device), weights, biases, activation)
    )
    centre = None
    if center is not None:
        reference = _tensor(center, "center", dtype, device)
        centre = representation_features(reference, weights, biases, activation).mean(0)
    return _gram(features1, features2, centre)


def fitted_representation_kernel(representation, X1, X2=None, center=None) -> torch.Tensor:
    """<h(x), h(x')> / D from a fitted [`hierlearn.RandomNetworkRepresentation`][]'s raw
    (un-normalised) ``features``, optionally centred by the mean features over ``center``."""
    features1 = representation.features(X1)
    features2 = features1 if X2 is None else representation.features(X2)
    centre = None if center is None else representation.features(center).mean(0)
    return _gram(features1, features2, centre)
