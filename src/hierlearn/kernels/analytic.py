"""Infinite-width kernels of the trainable two-layer network, raw or on a random representation.

**Trainable layer** (docs/theory.md §1.3). On inputs z in R^{D'} with w ~ N(0, I/D'), the
pre-activations (u, u') = (w.z, w.z') are a centred Gaussian pair with

    Var u = q(z) = |z|^2 / D',   Cov(u, u') = c(z, z') = <z, z'> / D',

and the infinite-width kernels of the linearised network are

    NTK(z, z')  = E[act'(u) act'(u')] <z, z'>  = lim (1/m) sum_r act'(w0_r.z) act'(w0_r.z') <z, z'>,
    NNGP(z, z') = E[act(u) act(u')]            = lim (1/m) sum_r act(w0_r.z) act(w0_r.z'),
    linear      = <z, z'>.

The NTK is exactly the kernel of [`hierlearn.NTKRegressor`][]'s features as m -> infinity,
so kernel ridge regression with it and ridge r equals a wide ``NTKRegressor`` with ridge r.

**Composed with a random representation** h of depth L (docs/theory.md §1.2:
h_l = act_h(V_l h_{l-1} / sqrt(dim_{l-1}) + b_l), V_l entries N(0, 1), b_l ~ N(0, beta^2)),
of infinite width D. The representation's kernel Sigma_l(x, x') = lim <h_l(x), h_l(x')> / D
follows the layer recursion

    Sigma_0(x, x') = <x, x'> / d,
    Sigma_l(x, x') = E[act_h(v) act_h(v')],
    (v, v') ~ N(0, [[S(x, x), S(x, x')], [S(x, x'), S(x', x')]]),  S = Sigma_{l-1} + beta^2.

Optionally the features are centred, h - E_x h (the mean over an input law given by reference
inputs x_1..x_N, i.e. their empirical law): in the limit Sigma_L is replaced by

    Sigma_L^c(x, x') = Sigma_L(x, x') - m(x) - m(x') + M,
    m(x) = (1/N) sum_r Sigma_L(x, x_r),   M = (1/N^2) sum_{r,s} Sigma_L(x_r, x_s).

Whitening (``normalize="whiten"`` of
[`RandomNetworkRepresentation`][hierlearn.RandomNetworkRepresentation]) has no
infinite-width limit and is not modelled: the composed kernels use the un-whitened features.
The trainable layer then sees z = h in R^D with w ~ N(0, I/D), so c(z, z') = <h, h'> / D ->
Sigma_L (centred or not), and **the composed kernels are scaled by 1/D**:

    NTK_h(x, x')    = E[act'(u) act'(u')] Sigma_L(x, x')   (= lim NTK(h(x), h(x')) / D)
    NNGP_h(x, x')   = E[act(u) act(u')]                    (no D factor to remove)
    linear_h(x, x') = Sigma_L(x, x')                        (= lim <h(x), h(x')> / D)

with (u, u') ~ N(0, [[Sigma_L(x,x), Sigma_L(x,x')], [., Sigma_L(x',x')]]). Kernel ridge with
NTK_h and ridge r therefore matches an ``NTKRegressor`` on the raw features h of width D with
ridge r D (kernel ridge predictions are unchanged by K -> D K, r -> D r).

Gaussian expectations use the closed forms of [`hierlearn.activations`][] where they exist
and the Hermite series of `hierlearn.kernels.gaussian` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from .._validation import check_choice, check_float, check_int, resolve_dtype
from ..activations import (
    ArcCosineDual,
    Dual,
    Elementwise,
    parse_representation_activation,
    representation_activation,
    trainable_activation,
)
from . import blocks
from .gaussian import SeriesPoints, expand, series_block

KINDS = ("ntk", "nngp", "linear")
DEFAULT_MEMORY_BUDGET = "1GiB"


@dataclass(frozen=True)
class RepresentationSpec:
    """The random representation of a composed kernel (infinite width).

    Args:
        activation: representation activation (relu, step, sign, tanh, erf, monomial-k,
            hermite-k).
        depth: number of random layers L >= 1.
        bias_std: standard deviation beta >= 0 of the biases.
    """

    activation: str = "relu"
    depth: int = 1
    bias_std: float = 0.0

    def __post_init__(self):
        parse_representation_activation(self.activation)
        check_int("depth", self.depth, minimum=1)
        check_float("bias_std", self.bias_std, minimum=0.0)


def as_representation(value, name: str = "representation") -> RepresentationSpec | None:
    """None, a `RepresentationSpec`, or a mapping
    with keys activation/depth/bias_std."""
    if value is None or isinstance(value, RepresentationSpec):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{name} must be None or a dict with keys 'activation', 'depth', 'bias_std', "
            f"got {value!r}"
        )
    unknown = set(value) - {"activation", "depth", "bias_std"}
    if unknown:
        raise ValueError(
            f"{name} has unknown keys {sorted(unknown)}; accepted keys: 'activation', "
            "'depth', 'bias_std'"
        )
    try:
        return RepresentationSpec(**value)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from error


class _GaussianMap:
    """E[f(u) f(u')] for one activation: a closed-form dual or a Hermite series.

    Arc-cosine duals (relu and its powers, the step) take the fast path of
    [`hierlearn.activations.ArcCosineDual.of_correlation`][]: the correlation rho is formed
    with per-point inverse standard deviations computed once (two row / column products, no
    square root or division per entry), and the scales q^{n/2} are applied the same way.
    """

    def __init__(self, function: Elementwise, dual: Dual | None, degree: int | None = None):
        self.function = function
        self.dual = dual
        self.degree = degree
        self.arccos = dual if isinstance(dual, ArcCosineDual) else None

    def points(self, variance: torch.Tensor) -> _MapPoints:
        series = None if self.dual is not None else expand(self.function, variance, self.degree)
        return _MapPoints.of(variance, series)

    def diagonal(self, points: _MapPoints) -> torch.Tensor:
        """E[f(u)^2] for u ~ N(0, q) at every point."""
        if points.series is not None:
            return points.series.second_moment.clone()
        q = points.variance[:, None]
        return self.dual(q, q, q)[:, 0]

    @staticmethod
    def correlation(
        covariance: torch.Tensor, points1: _MapPoints, points2: _MapPoints, diagonal: bool
    ) -> torch.Tensor:
        """rho = c / sqrt(q1 q2) in [-1, 1], in place of ``covariance`` (0 where q = 0).

        With ``diagonal`` (the same points) rho is set to exactly 1 on the diagonal: arccos
        and the series are steep at rho = 1, where a rounding error of 1e-16 would become
        ~1e-8.
        """
        rho = covariance.mul_(points1.inverse_root[:, None]).mul_(points2.inverse_root[None, :])
        rho.clamp_(-1.0, 1.0)
        if diagonal:
            rho.diagonal().copy_(points1.inverse_root > 0)
        return rho

    def of_correlation(
        self, rho: torch.Tensor, points1: _MapPoints, points2: _MapPoints
    ) -> torch.Tensor:
        """An arc-cosine map on a correlation block: J(rho) (q1 q2)^(order / 2)."""
        value = self.arccos.of_correlation(rho)
        order = self.arccos.order
        if order:
            scale1, scale2 = points1.root.pow(order), points2.root.pow(order)
            value.mul_(scale1[:, None]).mul_(scale2[None, :])
        return value

    def block(
        self,
        covariance: torch.Tensor,
        points1: _MapPoints,
        points2: _MapPoints,
        diagonal: bool = False,
    ) -> torch.Tensor:
        """The map on a covariance block (which it may overwrite)."""
        if self.arccos is not None:
            rho = self.correlation(covariance, points1, points2, diagonal)
            return self.of_correlation(rho, points1, points2)
        if self.dual is not None:
            q1, q2 = points1.variance[:, None], points2.variance[None, :]
            return self.dual(covariance, q1, q2)
        rho = self.correlation(covariance, points1, points2, diagonal)
        return series_block(rho, points1.series, points2.series, self.function)


@dataclass(frozen=True)
class _MapPoints:
    variance: torch.Tensor  # (n,) pre-activation variances q
    series: SeriesPoints | None  # Hermite coefficients when there is no closed form
    root: torch.Tensor  # (n,) sqrt(q)
    inverse_root: torch.Tensor  # (n,) 1 / sqrt(q), 0 where q = 0

    @classmethod
    def of(cls, variance: torch.Tensor, series: SeriesPoints | None = None) -> _MapPoints:
        root = variance.sqrt()
        inverse = torch.where(root > 0, root.reciprocal(), torch.zeros_like(root))
        return cls(variance, series, root, inverse)

    def take(self, rows) -> _MapPoints:
        series = None if self.series is None else self.series.select(rows)
        return _MapPoints(self.variance[rows], series, self.root[rows], self.inverse_root[rows])


@dataclass(frozen=True)
class PreparedInputs:
    """Per-point quantities of a point set, computed once and reused by every block.

    Attributes:
        X: (n, d) inputs on the kernel's device and dtype.
        layers: per representation layer, the input variances (and series coefficients).
        center: (n,) m(x) when the kernel is centred, else None.
        top: the trainable layer's variances (and coefficients), None for ``linear``.
        unit: (n, d) inputs scaled to unit norm (zero rows stay zero), for the correlation of
            raw inputs with an arc-cosine trainable layer; else None.
        scale: (n,) per-point factor of the arc-cosine fast path (see
            [`InfiniteWidthKernel.block`][hierlearn.kernels.analytic.InfiniteWidthKernel.block]),
            else None.
        first: (n, d + 1) inputs (x / sqrt(d), bias_std) divided by their first-layer standard
            deviation, when the first representation layer is an arc-cosine map: one product
            of two such sets is that layer's correlation block; else None.
    """

    X: torch.Tensor
    layers: tuple[_MapPoints, ...]
    center: torch.Tensor | None
    top: _MapPoints | None
    unit: torch.Tensor | None = None
    scale: torch.Tensor | None = None
    first: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.X.shape[0]

    def take(self, rows) -> PreparedInputs:
        """The points ``rows`` (a slice or an index tensor)."""
        return PreparedInputs(
            self.X[rows],
            tuple(layer.take(rows) for layer in self.layers),
            None if self.center is None else self.center[rows],
            None if self.top is None else self.top.take(rows),
            None if self.unit is None else self.unit[rows],
            None if self.scale is None else self.scale[rows],
            None if self.first is None else self.first[rows],
        )


def _representation_map(spec: RepresentationSpec) -> _GaussianMap:
    activation = representation_activation(spec.activation)
    return _GaussianMap(activation.function, activation.dual, activation.degree)


class InfiniteWidthKernel:
    """A kernel of the module docstring, evaluated blockwise in a memory budget.

    Args:
        kind: "ntk", "nngp" or "linear".
        activation: trainable activation (ignored for ``linear``).
        representation: None (raw inputs) or a
            `RepresentationSpec` / dict.
        center: None, or (N, d) reference inputs whose empirical law centres the
            representation's features (only with a representation).
        reference_mean: M of the module docstring for these reference inputs when already
            known (it costs a pass over N x N kernel entries otherwise).
        memory_budget: bytes (int or a string like "1GiB") for the blocks' working memory; the
            output matrix itself is not counted.
        dtype: "float64" (default) or "float32".
        device: where to compute ("cpu", "cuda"); None takes the device of the inputs.
    """

    def __init__(
        self,
        kind: str = "ntk",
        activation: str = "relu",
        representation=None,
        center=None,
        memory_budget=DEFAULT_MEMORY_BUDGET,
        dtype="float64",
        device=None,
        reference_mean: float | None = None,
    ):
        self.kind = check_choice("kernel", kind, KINDS)
        self.activation = trainable_activation(activation)
        self.representation = as_representation(representation)
        self.dtype = resolve_dtype(dtype)
        self.budget = blocks.parse_memory_budget(memory_budget)
        self.entries = blocks.block_entries(self.budget, self.dtype.itemsize)
        self.device = None if device is None else torch.device(device)
        self.layer_map = (
            None if self.representation is None else _representation_map(self.representation)
        )
        if self.kind == "nngp":
            self.top_map = _GaussianMap(self.activation.act, self.activation.nngp_dual)
        elif self.kind == "ntk":
            self.top_map = _GaussianMap(self.activation.d1, self.activation.ntk_dual)
        else:
            self.top_map = None
        self.reference = None
        self.reference_mean = None
        if center is not None:
            if self.representation is None:
                raise ValueError("center needs a representation: raw inputs are not centred")
            reference = self._representation_inputs(self.as_tensor(center, "center"))
            if reference_mean is None:
                reference_mean = float(self._row_means(reference, reference).mean())
            self.reference = reference
            self.reference_mean = float(reference_mean)

    def as_tensor(self, X, name: str = "X") -> torch.Tensor:
        """X as a 2-D tensor on the kernel's device (else the input's) in the kernel's dtype."""
        if isinstance(X, torch.Tensor):
            device = self.device if self.device is not None else X.device
            X = X.detach().to(device=device, dtype=self.dtype)
        else:
            X = torch.as_tensor(
                np.asarray(X, dtype=np.float64), dtype=self.dtype, device=self.device or "cpu"
            )
        if X.ndim != 2 or X.shape[1] < 1:
            raise ValueError(
                f"{name} must be 2-D of shape (n_samples, n_features), got shape {tuple(X.shape)}"
            )
        if not torch.isfinite(X).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        if self.reference is not None and X.shape[1] != self.reference.X.shape[1]:
            raise ValueError(
                f"{name} has {X.shape[1]} features, the centring inputs {self.reference.X.shape[1]}"
            )
        return X

    def _representation_inputs(self, X: torch.Tensor) -> PreparedInputs:
        """Per-point representation statistics, before centring and the trainable layer."""
        variance = (X * X).sum(1) / X.shape[1]  # Sigma_0(x, x)
        layers, first = [], None
        if self.representation is not None:
            bias_std = self.representation.bias_std
            for _ in range(self.representation.depth):
                points = self.layer_map.points(variance + bias_std**2)
                layers.append(points)
                variance = self.layer_map.diagonal(points)  # Sigma_l(x, x)
            if self.layer_map.arccos is not None:
                inputs = torch.cat(
                    [X / math.sqrt(X.shape[1]), X.new_full((len(X), 1), bias_std)], 1
                )
                first = inputs.mul_(layers[0].inverse_root[:, None])
        return PreparedInputs(X, tuple(layers), None, _MapPoints.of(variance), first=first)

    def prepare(self, X) -> PreparedInputs:
        """Per-point quantities of ``X`` (array or tensor of shape (n, d))."""
        prepared = self._representation_inputs(self.as_tensor(X))
        variance = prepared.top.variance  # Sigma_L(x, x)
        centre = None
        if self.reference is not None:
            centre = self._row_means(prepared, self.reference)
            variance = (variance - 2.0 * centre + self.reference_mean).clamp_min_(0.0)
        top = None if self.top_map is None else self.top_map.points(variance)
        unit = scale = None
        if top is not None and self.top_map.arccos is not None:
            raw = self.representation is None
            norm = prepared.X.norm(dim=1) if raw else None
            # The per-point factor a of block(): K = J(rho) [rho] a a'.
            scale = top.root.pow(self.top_map.arccos.order)
            if self.kind == "ntk":
                # The inner-product factor: <x, x'> = rho |x| |x'| on raw inputs, else
                # Sigma_L(x, x') = rho sqrt(q q').
                scale = scale * (norm if raw else top.root)
            if raw:
                unit = prepared.X * torch.where(norm > 0, norm.reciprocal(), 0.0)[:, None]
        return PreparedInputs(prepared.X, prepared.layers, centre, top, unit, scale, prepared.first)

    def _covariance(
        self, points1: PreparedInputs, points2: PreparedInputs, diagonal: bool = False
    ) -> tuple:
        """(Sigma_L or Sigma_0 block, <x, x'> block or None) before the trainable layer.

        With ``diagonal`` (the two point sets are the same points), the diagonal of every
        covariance is set to the per-point variance the next map uses, so that rho = 1
        exactly there: arccos and the series are steep at rho = 1, where a rounding error
        of 1e-16 would become ~1e-8.
        """
        if self.representation is None:
            gram = points1.X @ points2.X.T
            covariance = gram / points1.X.shape[1]
        else:
            gram, layers = None, list(zip(points1.layers, points2.layers, strict=True))
            if points1.first is not None:  # the first layer's correlation in one product
                rho = (points1.first @ points2.first.T).clamp_(-1.0, 1.0)
                if diagonal:
                    rho.diagonal().copy_(layers[0][0].inverse_root > 0)
                covariance = self.layer_map.of_correlation(rho, *layers[0])
                layers = layers[1:]
            else:
                covariance = (points1.X @ points2.X.T).div_(points1.X.shape[1])
            bias_variance = self.representation.bias_std**2
            for layer1, layer2 in layers:
                covariance.add_(bias_variance)
                if diagonal:
                    covariance.diagonal().copy_(layer1.variance)
                covariance = self.layer_map.block(covariance, layer1, layer2, diagonal)
            if points1.center is not None:
                covariance.sub_(points1.center[:, None]).sub_(points2.center[None, :])
                covariance.add_(self.reference_mean)
        if diagonal and points1.top is not None:
            covariance.diagonal().copy_(points1.top.variance)
        return covariance, gram

    def block(
        self,
        points1: PreparedInputs,
        points2: PreparedInputs,
        diagonal: bool = False,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The kernel between two prepared point sets, shape (n1, n2).

        With an arc-cosine trainable layer (relu and its powers) the block is

            K = J(rho) a a'           (nngp),
            K = J(rho) rho a a'       (ntk: the inner-product factor is rho times scales),

        with J the dual's correlation map, rho the top-layer correlation (one product of the
        unit-norm inputs on raw inputs) and a the per-point factor of
        [`prepare`][hierlearn.kernels.analytic.InfiniteWidthKernel.prepare]; each
        block costs a matrix product and a few elementwise passes.

        Args:
            points1: a prepared point set (the rows).
            points2: a prepared point set (the columns).
            diagonal: the two sets are the same points (a diagonal block of a symmetric
                matrix); see `_covariance`.
            out: optional (n1, n2) tensor (a view into a larger matrix is fine) to write into.
        """
        if points1.scale is not None:
            if points1.unit is not None:
                rho = (points1.unit @ points2.unit.T).clamp_(-1.0, 1.0)
                if diagonal:
                    rho.diagonal().copy_(points1.top.inverse_root > 0)
            else:
                covariance = self._covariance(points1, points2, diagonal)[0]
                rho = self.top_map.correlation(covariance, points1.top, points2.top, diagonal)
            value = self.top_map.arccos.of_correlation(rho)
            if self.kind == "ntk":
                value.mul_(rho)
            column = points2.scale[None, :]
            if out is None:
                return value.mul_(points1.scale[:, None]).mul_(column)
            return torch.mul(value, points1.scale[:, None], out=out).mul_(column)
        covariance, gram = self._covariance(points1, points2, diagonal)
        if self.kind == "linear":
            result = gram if gram is not None else covariance
        elif self.kind == "nngp":
            result = self.top_map.block(covariance, points1.top, points2.top, diagonal)
        else:
            # The NTK's inner-product factor must survive the map, which may work in place.
            inner = gram if gram is not None else covariance.clone()
            result = self.top_map.block(covariance, points1.top, points2.top, diagonal)
            result.mul_(inner)
        return result if out is None else out.copy_(result)

    def evaluator(self, points1: PreparedInputs, points2: PreparedInputs):
        """The block callable ``(rows, cols, out=None) -> block`` of
        `hierlearn.kernels.blocks`."""

        def evaluate(rows: slice, cols: slice, out: torch.Tensor | None = None) -> torch.Tensor:
            diagonal = points1 is points2 and rows == cols
            return self.block(points1.take(rows), points2.take(cols), diagonal, out)

        return evaluate

    def _row_means(self, points1: PreparedInputs, points2: PreparedInputs) -> torch.Tensor:
        """(1/n2) sum_j Sigma_L(x_i, x_j) (un-centred), blockwise."""
        ones = points1.X.new_full((len(points2), 1), 1.0 / len(points2))

        def evaluate(rows: slice, cols: slice) -> torch.Tensor:
            diagonal = points1 is points2 and rows == cols
            return self._covariance(points1.take(rows), points2.take(cols), diagonal)[0]

        return blocks.product(evaluate, len(points1), len(points2), ones, self.entries)[:, 0]

    def matrix(
        self, X1, X2=None, out: torch.Tensor | None = None, upper_only: bool = False
    ) -> torch.Tensor:
        """The (n1, n2) kernel matrix (X2 None: the symmetric K(X1, X1)).

        Args:
            X1: inputs (an array or tensor) or
                `PreparedInputs`.
            X2: the same for the columns, or None for K(X1, X1).
            out: optional preallocated (n1, n2) tensor to write into.
            upper_only: with X2 None, write only the blocks on and above the diagonal (for
                in-place LAPACK factorisations, which read one triangle).
        """
        points1 = X1 if isinstance(X1, PreparedInputs) else self.prepare(X1)
        symmetric = X2 is None
        points2 = (
            points1 if symmetric else (X2 if isinstance(X2, PreparedInputs) else self.prepare(X2))
        )
        if points1.X.shape[1] != points2.X.shape[1]:
            raise ValueError(
                f"X1 has {points1.X.shape[1]} features but X2 has {points2.X.shape[1]}"
            )
        if out is None:
            out = points1.X.new_empty((len(points1), len(points2)))
        return blocks.fill(
            self.evaluator(points1, points2),
            out,
            self.entries,
            symmetric=symmetric,
            upper_only=upper_only,
        )


def _matrix(kind, X1, X2, activation, representation, center, memory_budget, dtype):
    kernel = InfiniteWidthKernel(kind, activation, representation, center, memory_budget, dtype)
    return kernel.matrix(X1, X2)


def ntk(
    X1,
    X2=None,
    activation="relu",
    representation=None,
    center=None,
    memory_budget=DEFAULT_MEMORY_BUDGET,
    dtype="float64",
) -> torch.Tensor:
    """Infinite-width NTK of the linearised two-layer network (see the module docstring).

    Raw inputs: K(z, z') = E[act'(u) act'(u')] <z, z'>, (u, u') ~ N(0, [[|z|^2, <z,z'>],
    [<z,z'>, |z'|^2]] / D'). With a representation: E[act'(u) act'(u')] Sigma_L(x, x') (the
    NTK on h(x) divided by its width D).

    Args:
        X1: (n1, d) inputs (numpy array or torch tensor; the result is on its device).
        X2: (n2, d) inputs, or None for the symmetric K(X1, X1).
        activation: trainable activation (relu, relu2, relu3, quadratic, tanh, softplus,
            gelu).
        representation: None, or a dict /
            `RepresentationSpec` with keys
            activation,
            depth and bias_std.
        center: None, or reference inputs whose empirical law centres the representation.
        memory_budget: working memory of the blocks (bytes or a string like "1GiB").
        dtype: "float64" (default) or "float32".

    Returns:
        (n1, n2) torch tensor.
    """
    return _matrix("ntk", X1, X2, activation, representation, center, memory_budget, dtype)


def nngp(
    X1,
    X2=None,
    activation="relu",
    representation=None,
    center=None,
    memory_budget=DEFAULT_MEMORY_BUDGET,
    dtype="float64",
) -> torch.Tensor:
    """Infinite-width NNGP kernel E[act(u) act(u')] (arguments as
    [`ntk`][hierlearn.kernels.analytic.ntk])."""
    return _matrix("nngp", X1, X2, activation, representation, center, memory_budget, dtype)


def representation_kernel(
    X1,
    X2=None,
    activation="relu",
    depth=1,
    bias_std=0.0,
    center=None,
    memory_budget=DEFAULT_MEMORY_BUDGET,
    dtype="float64",
) -> torch.Tensor:
    """Sigma_L(x, x') = lim <h_L(x), h_L(x')> / D of the random representation, optionally
    centred (see the module docstring; arguments as [`ntk`][hierlearn.kernels.analytic.ntk])."""
    representation = RepresentationSpec(activation, depth, bias_std)
    return _matrix("linear", X1, X2, "relu", representation, center, memory_budget, dtype)
