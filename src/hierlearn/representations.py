"""The fixed random neural representation h (docs/theory.md §1.2) as a scikit-learn transformer.

h_0 = x in R^d and, for l = 1..L,

    h_l = act(V_l h_{l-1} / sqrt(dim_{l-1}) + b_l),   V_l[i, j] ~ N(0, 1),  b_l ~ N(0, bias_std^2),

so every pre-activation has variance |h_{l-1}|^2 / dim_{l-1} + bias_std^2 (about 1 + bias_std^2
at the first layer for gaussian or sphere inputs). The output h_L in R^D (D = ``width``) is then
normalised with statistics fitted on inputs only:

``whiten``
    z = S^{-1/2} (h - mu), S the empirical covariance of h with its eigenvalues floored at
    ``whiten_eps`` times the largest one (the paper's analysis whitens h).
``standardize``
    z = (h - mu) / sigma, feature by feature (sigma floored the same way).
``none``
    z = h.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import ClassVar

import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._random import make_generator
from ._validation import (
    DEVICE_CONSTRAINT,
    DTYPE_CONSTRAINT,
    FLOAT_DTYPES,
    RANDOM_STATE_CONSTRAINT,
    as_tensor,
    resolve_device,
    resolve_dtype,
    torch_tags,
)
from .activations import representation_activation
from .inputs import INPUT_LAWS

NORMALIZATIONS = ("whiten", "standardize", "none")


def representation_features(X: torch.Tensor, weights, biases, activation) -> torch.Tensor:
    """h_L(X): h_l = act(V_l h_{l-1} / sqrt(dim_{l-1}) + b_l), h_0 = X (the module docstring).

    Args:
        X: (n, d) tensor of inputs.
        weights: the matrices V_l, shapes (D, d), (D, D), ...
        biases: the vectors b_l, shape (D,) each.
        activation: representation activation name.
    """
    act = representation_activation(activation)
    hidden = X
    for weight, bias in zip(weights, biases, strict=True):
        hidden = act(hidden @ weight.T / math.sqrt(weight.shape[1]) + bias)
    return hidden


class RandomNetworkRepresentation(TransformerMixin, BaseEstimator):
    """A fixed random network h: R^d -> R^width followed by a fitted normalisation.

    Args:
        width: D, the number of features of every layer.
        depth: L >= 1, the number of random layers.
        activation: relu, step, sign, tanh, erf, ``monomial-k`` (t^k) or ``hermite-k``
            (He_k(t) / sqrt(k!)), e.g. "hermite-2".
        bias_std: standard deviation of the biases b_l (0 disables them).
        normalize: "whiten", "standardize" or "none" (see the module docstring).
        whiten_eps: relative floor of the covariance eigenvalues (or variances).
        n_unlabeled: when > 0, ``fit`` estimates the normalisation on this many fresh inputs
            drawn from ``unlabeled_law`` (labels are what a sample size counts; unlabelled
            inputs are free in the synthetic setting) instead of on the given X.
        unlabeled_law: "gaussian" or "sphere", the law of those fresh inputs.
        device: "cpu" or "cuda", where the features are computed.
        dtype: "float64" or "float32", the precision of the features.
        random_state: seed of V_l, b_l and of the unlabelled inputs.

    Attributes:
        weights_: list of the L matrices V_l (torch tensors of shape (width, dim_{l-1})).
        biases_: list of the L bias vectors b_l (zeros when bias_std = 0).
        mean_: (width,) tensor, the fitted mean of h (zeros for ``none``).
        normalizer_: (width, width) tensor applied on the right for ``whiten``, (width,)
            scale for ``standardize``, None for ``none``.
        n_fit_samples_: number of inputs the normalisation was estimated on.
        n_floored_: number of eigenvalues (or variances) raised to the floor.
    """

    def __init__(
        self,
        width: int = 512,
        *,
        depth: int = 1,
        activation: str = "relu",
        bias_std: float = 0.0,
        normalize: str = "whiten",
        whiten_eps: float = 1e-6,
        n_unlabeled: int = 0,
        unlabeled_law: str = "gaussian",
        device: str = "cpu",
        dtype: str = "float64",
        random_state=None,
    ):
        self.width = width
        self.depth = depth
        self.activation = activation
        self.bias_std = bias_std
        self.normalize = normalize
        self.whiten_eps = whiten_eps
        self.n_unlabeled = n_unlabeled
        self.unlabeled_law = unlabeled_law
        self.device = device
        self.dtype = dtype
        self.random_state = random_state

    _parameter_constraints: ClassVar[dict] = {
        "width": [Interval(Integral, 1, None, closed="left")],
        "depth": [Interval(Integral, 1, None, closed="left")],
        "activation": [str],  # a name or a family ("hermite-k"): checked by our parser
        "bias_std": [Interval(Real, 0, None, closed="left")],
        "normalize": [StrOptions(set(NORMALIZATIONS))],
        "whiten_eps": [Interval(Real, 0, None, closed="left")],
        "n_unlabeled": [Interval(Integral, 0, None, closed="left")],
        "unlabeled_law": [StrOptions(set(INPUT_LAWS))],
        "device": DEVICE_CONSTRAINT,
        "dtype": [StrOptions(set(DTYPE_CONSTRAINT))],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def _check_params(self):
        self._validate_params()
        representation_activation(self.activation)  # our message, naming the families
        return resolve_device(self.device), resolve_dtype(self.dtype)

    def __sklearn_tags__(self):
        tags = torch_tags(super().__sklearn_tags__(), self.device)
        # The features have the configured dtype whatever the input's.
        tags.transformer_tags.preserves_dtype = [self.dtype]
        return tags

    def fit(self, X, y=None):
        """Draw the random weights and estimate the normalisation.

        Args:
            X: (n_samples, d) inputs; the normalisation is fitted on them unless
                ``n_unlabeled > 0``.
            y: ignored.
        """
        device, dtype = self._check_params()
        # The normalisation is fitted on X unless unlabelled inputs are drawn.
        fits_on_x = self.n_unlabeled == 0 and self.normalize != "none"
        X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_min_samples=2 if fits_on_x else 1)
        generator = make_generator(self.random_state)
        self.weights_, self.biases_ = [], []
        fan_in = self.n_features_in_
        for _ in range(self.depth):
            weight = torch.randn(self.width, fan_in, generator=generator, dtype=torch.float64)
            bias = torch.randn(self.width, generator=generator, dtype=torch.float64) * self.bias_std
            self.weights_.append(weight.to(device=device, dtype=dtype))
            self.biases_.append(bias.to(device=device, dtype=dtype))
            fan_in = self.width
        if self.n_unlabeled > 0:
            law = INPUT_LAWS[self.unlabeled_law](self.n_features_in_)
            fit_inputs = law.sample(self.n_unlabeled, generator)
        else:
            fit_inputs = as_tensor(X, self.weights_[0].dtype, device)
        self._fit_normalization(self.features(fit_inputs))
        return self

    def features(self, X) -> torch.Tensor:
        """The raw (un-normalised) features h_L(X) as a torch tensor of shape (n, width)."""
        check_is_fitted(self, "weights_")
        weight0 = self.weights_[0]
        if isinstance(X, torch.Tensor):  # kept on its device; checked like an array
            if X.ndim != 2 or X.shape[1] != self.n_features_in_ or not torch.isfinite(X).all():
                validate_data(self, X.detach().cpu().numpy(), dtype=FLOAT_DTYPES, reset=False)
            hidden = X.to(device=weight0.device, dtype=weight0.dtype)
        else:
            X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)
            hidden = as_tensor(X, weight0.dtype, weight0.device)
        return representation_features(hidden, self.weights_, self.biases_, self.activation)

    def _fit_normalization(self, hidden: torch.Tensor) -> None:
        n = hidden.shape[0]
        self.n_fit_samples_ = n
        self.n_floored_ = 0
        if self.normalize == "none":
            self.mean_ = torch.zeros(self.width, dtype=hidden.dtype, device=hidden.device)
            self.normalizer_ = None
            return
        if n < 2:
            raise ValueError(
                f"normalize={self.normalize!r} needs at least 2 samples to fit, got {n} sample"
            )
        self.mean_ = hidden.mean(dim=0)
        centred = hidden - self.mean_
        if self.normalize == "standardize":
            variance = (centred * centred).mean(dim=0)
            floor = self.whiten_eps * float(variance.max())
            self.n_floored_ = int((variance < floor).sum())
            self.normalizer_ = 1.0 / torch.sqrt(torch.clamp(variance, min=max(floor, 1e-300)))
            return
        if n < self.width:
            warnings.warn(
                f"whitening {self.width} features with only {n} samples: the covariance is "
                "singular and its small eigenvalues are floored; fit on more inputs "
                "(n_unlabeled) for a faithful whitening",
                UserWarning,
                stacklevel=3,
            )
        # Accumulate the covariance in float64 whatever the feature dtype.
        centred64 = centred.to(torch.float64)
        covariance = centred64.T @ centred64 / n
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        floor = self.whiten_eps * float(eigenvalues.max())
        self.n_floored_ = int((eigenvalues < floor).sum())
        eigenvalues = torch.clamp(eigenvalues, min=max(floor, 1e-300))
        inverse_sqrt = (eigenvectors * eigenvalues.rsqrt()) @ eigenvectors.T
        self.normalizer_ = inverse_sqrt.to(hidden.dtype)

    def transform_tensor(self, X) -> torch.Tensor:
        """Normalised features z as a torch tensor on ``device`` (see the module docstring)."""
        hidden = self.features(X)
        if self.normalize == "none":
            return hidden
        centred = hidden - self.mean_
        if self.normalize == "standardize":
            return centred * self.normalizer_
        return centred @ self.normalizer_

    def transform(self, X):
        """Normalised features z of shape (n_samples, width) as a numpy array."""
        return self.transform_tensor(X).cpu().numpy()


def linear_residual(transformer, values_fit, X_fit, values_eval, X_eval) -> float:
    """Out-of-sample share of a function's variance that the features cannot express linearly.

    Fits f ~ c0 + z . c by least squares on (z(X_fit), values_fit), z = ``transformer``'s
    normalised features, and returns mean (f - fit)^2 / var f on the fresh points X_eval:
    0 when f lies in the span of (1, z), 1 when the features carry nothing of it. Use at least
    a few times ``width`` fitting points (a least-squares fit on fewer interpolates).

    Args:
        transformer: a fitted
            [`RandomNetworkRepresentation`][hierlearn.representations.RandomNetworkRepresentation].
        values_fit, values_eval: f at the fitting and evaluation points, shapes (n,).
        X_fit, X_eval: the inputs, shapes (n, d).
    """

    def design(X):  # (1, z) of every point, float64
        Z = torch.as_tensor(transformer.transform(X), dtype=torch.float64)
        return torch.cat([torch.ones(Z.shape[0], 1, dtype=torch.float64), Z], dim=1)

    target = torch.as_tensor(values_fit, dtype=torch.float64).reshape(-1, 1)
    coefficients = torch.linalg.lstsq(design(X_fit), target, driver="gelsd").solution
    design_eval = design(X_eval)
    truth = torch.as_tensor(values_eval, dtype=torch.float64).reshape(-1)
    residual = truth - (design_eval @ coefficients).reshape(-1)
    return float((residual**2).mean() / truth.var(unbiased=False).clamp_min(1e-300))


def whitening_error(transformer, X_eval) -> float:
    """How far the whitened features are from isotropic on fresh inputs.

    The spectral norm of (Cov(z) - P) on ``X_eval``, P the projection on the directions
    whitening kept (floored eigen-directions excluded): 0 for a perfect whitening; the
    sampling error of a covariance fitted on N points is about sqrt(D / N).
    """
    Z = torch.as_tensor(transformer.transform(X_eval), dtype=torch.float64)
    centred = Z - Z.mean(dim=0)
    covariance = centred.T @ centred / Z.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    kept = eigenvectors[:, eigenvalues > 1e-3]  # floored directions carry ~0 variance
    projection = kept @ kept.T
    return float(torch.linalg.matrix_norm(covariance - projection, ord=2))
