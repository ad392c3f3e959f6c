"""Infinite-width kernels against Monte Carlo over wide random networks, and their properties.

Monte Carlo convention: each check averages the empirical kernels of several independent
random networks of width 2^15 (for the trainable layer, neurons are i.i.d., so this is one
network of that many times 2^15 neurons). One network alone is not enough for a 2% check of
every activation: the relative standard deviation of a single entry of (1/m) sum_r act(u_r)^2
is sqrt(Var act(u)^2 / m) / E act(u)^2, which for relu3 = relu^3/6 is sqrt(91.4 / 2^15) = 5.3%
at m = 2^15 (relu2: 2.6%), whatever the formula being checked. The number of networks is
chosen so that the Monte Carlo noise is well below the 2% tolerance.
"""

import math

import numpy as np
import pytest
import torch

from hierlearn.activations import (
    TRAINABLE_ACTIVATIONS,
    representation_activation,
    trainable_activation,
)
from hierlearn.kernels import (
    InfiniteWidthKernel,
    empirical_nngp,
    empirical_ntk,
    empirical_representation_kernel,
    nngp,
    ntk,
    representation_kernel,
)
from reference import relative_difference

WIDTH = 2**15
NETWORKS = 16
# Heavy-tailed act(u)^2: relative variance 22 (relu2) and 91 (relu3) per neuron.
RAW_NETWORKS = {"relu2": 32, "relu3": 64}
TOLERANCE = 0.02  # relative Frobenius error


def _inputs(n=24, d=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return X * (0.8 + 0.4 * torch.rand(n, 1, generator=generator, dtype=torch.float64))


def _gaussian_columns(covariance, width, generator):
    """width i.i.d. columns ~ N(0, covariance): the pre-activations of ``width`` neurons whose
    weight vectors are Gaussian, given the previous layer's features (exactly their law)."""
    values, vectors = torch.linalg.eigh(covariance)
    root = vectors * values.clamp_min(0.0).sqrt()
    noise = torch.randn(covariance.shape[0], width, generator=generator, dtype=torch.float64)
    return root @ noise


def sample_representation(X, activation, depth, bias_std, width, generator, center=None):
    """Features h_L / sqrt(width) of one random network (docs/theory.md §1), and those of the
    centring inputs. Layer 1 multiplies by an explicit V_1 (width, d); deeper layers draw
    their pre-activations from N(0, H H^T / width + bias_std^2), their exact law given H,
    instead of multiplying by a width x width matrix."""
    act = representation_activation(activation)
    inputs = X if center is None else torch.cat([X, center])
    weight = torch.randn(width, X.shape[1], generator=generator, dtype=torch.float64)
    bias = bias_std * torch.randn(width, generator=generator, dtype=torch.float64)
    hidden = act(inputs @ weight.T / math.sqrt(X.shape[1]) + bias)
    for _ in range(depth - 1):
        covariance = hidden @ hidden.T / width + bias_std**2
        hidden = act(_gaussian_columns(covariance, width, generator))
    if center is not None:
        hidden = hidden[: X.shape[0]] - hidden[X.shape[0] :].mean(0)
    return hidden / math.sqrt(width)


def trainable_monte_carlo(pre, inner, activation, kind):
    """(1/m) sum_r f(u_r) f(u_r)^T (times ``inner`` for the NTK) for the pre-activations
    u_r = w_r . z (columns of ``pre``), w_r ~ N(0, I/D')."""
    trainable = trainable_activation(activation)
    function = trainable.d1 if kind == "ntk" else trainable.act
    width = pre.shape[1]
    values = function(pre)
    kernel = values @ values.T / width
    return kernel * inner if kind == "ntk" else kernel


@pytest.mark.parametrize("activation", TRAINABLE_ACTIVATIONS)
def test_raw_kernels_match_wide_networks(activation):
    X = _inputs(n=10)
    generator = torch.Generator().manual_seed(1)
    trainable = trainable_activation(activation)
    slopes = torch.zeros(X.shape[0], X.shape[0], dtype=torch.float64)
    values = torch.zeros_like(slopes)
    networks = RAW_NETWORKS.get(activation, NETWORKS)
    for _ in range(networks):
        # An explicit first layer w_r ~ N(0, I/d).
        weights = torch.randn(WIDTH, X.shape[1], generator=generator, dtype=torch.float64)
        pre = X @ weights.T / math.sqrt(X.shape[1])
        derivative, image = trainable.d1(pre), trainable.act(pre)
        slopes += derivative @ derivative.T / (WIDTH * networks)
        values += image @ image.T / (WIDTH * networks)
    assert relative_difference(slopes * (X @ X.T), ntk(X, activation=activation)) < TOLERANCE
    assert relative_difference(values, nngp(X, activation=activation)) < TOLERANCE


COMPOSED = [
    # (representation activation, depth, bias_std)
    ("relu", 1, 0.0),
    ("step", 1, 0.5),
    ("sign", 1, 0.5),
    ("tanh", 1, 0.0),
    ("erf", 1, 0.0),
    ("monomial-2", 1, 0.0),
    ("hermite-3", 1, 0.0),
    ("relu", 2, 0.5),
    ("step", 2, 0.5),
    ("sign", 3, 0.5),
    ("tanh", 2, 0.3),
    ("erf", 2, 0.0),
    ("hermite-2", 2, 0.0),
]


def _composed_monte_carlo(X, representation, trainable, networks, generator):
    """Average over ``networks`` networks of width 2^15 of <h, h'> / D and of the trainable
    layer's kernels on h (NTK: times <h, h'> / D, the composed scaling)."""
    activation, depth, bias_std = representation
    sums = {}
    for _ in range(networks):
        features = sample_representation(X, activation, depth, bias_std, WIDTH, generator)
        gram = features @ features.T  # <h, h'> / D
        sums["linear"] = sums.get("linear", 0) + gram / networks
        # The trainable layer's pre-activations, shared by the activations checked.
        pre = _gaussian_columns(gram, WIDTH, generator)
        for name, kind in trainable:
            estimate = trainable_monte_carlo(pre, gram, name, kind)
            sums[name, kind] = sums.get((name, kind), 0) + estimate / networks
    return sums


def _check_composed(X, representation, sums):
    activation, depth, bias_std = representation
    spec = {"activation": activation, "depth": depth, "bias_std": bias_std}
    exact = representation_kernel(X, activation=activation, depth=depth, bias_std=bias_std)
    errors = {"linear": relative_difference(sums.pop("linear"), exact)}
    for (name, kind), estimate in sums.items():
        function = ntk if kind == "ntk" else nngp
        errors[name, kind] = relative_difference(
            estimate, function(X, activation=name, representation=spec)
        )
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("representation", COMPOSED)
def test_composed_kernels_match_wide_networks(representation):
    X = _inputs(n=12)
    generator = torch.Generator().manual_seed(2)
    trainable = [("relu", "ntk"), ("relu", "nngp"), ("tanh", "ntk")]
    _check_composed(
        X,
        representation,
        _composed_monte_carlo(X, representation, trainable, NETWORKS // 2, generator),
    )


def test_every_trainable_activation_composes():
    X = _inputs(n=12)
    generator = torch.Generator().manual_seed(8)
    trainable = [
        (name, kind)
        for name in TRAINABLE_ACTIVATIONS
        for kind in ("ntk", "nngp")
        if (name, kind) != ("relu3", "nngp")
    ]
    representation = ("erf", 2, 0.3)
    _check_composed(
        X, representation, _composed_monte_carlo(X, representation, trainable, NETWORKS, generator)
    )


def test_relu3_nngp_composes():
    """relu3's act(u)^2 has relative variance 91 per neuron, so its trainable layer is
    integrated exactly given each sampled representation (the closed form's own check is
    ``test_raw_kernels_match_wide_networks``); the representation is Monte Carlo."""
    X = _inputs(n=12)
    generator = torch.Generator().manual_seed(9)
    dual = trainable_activation("relu3").nngp_dual
    total = 0
    for _ in range(NETWORKS):
        features = sample_representation(X, "relu", 2, 0.2, WIDTH, generator)
        gram = features @ features.T
        variance = gram.diagonal()
        total = total + dual(gram, variance[:, None], variance[None, :]) / NETWORKS
    spec = {"activation": "relu", "depth": 2, "bias_std": 0.2}
    assert relative_difference(total, nngp(X, activation="relu3", representation=spec)) < TOLERANCE


@pytest.mark.slow
def test_relu3_nngp_composes_by_monte_carlo():
    X = _inputs(n=12)
    generator = torch.Generator().manual_seed(10)
    sums = _composed_monte_carlo(X, ("relu", 1, 0.0), [("relu3", "nngp")], 8 * NETWORKS, generator)
    _check_composed(X, ("relu", 1, 0.0), sums)


def test_centred_composed_kernel_matches_centred_features():
    X, reference = _inputs(n=16, seed=3), _inputs(n=40, seed=4)
    spec = {"activation": "relu", "depth": 2, "bias_std": 0.5}
    generator = torch.Generator().manual_seed(5)
    linear, tangent, networks = 0, 0, NETWORKS // 2
    for _ in range(networks):
        features = sample_representation(X, "relu", 2, 0.5, WIDTH, generator, center=reference)
        gram = features @ features.T
        linear = linear + gram / networks
        pre = _gaussian_columns(gram, WIDTH, generator)
        tangent = tangent + trainable_monte_carlo(pre, gram, "relu2", "ntk") / networks
    exact = representation_kernel(X, activation="relu", depth=2, bias_std=0.5, center=reference)
    assert relative_difference(linear, exact) < TOLERANCE
    assert (
        relative_difference(
            tangent, ntk(X, activation="relu2", representation=spec, center=reference)
        )
        < TOLERANCE
    )
    # Centring changes the kernel: the test can tell the two apart.
    uncentred = representation_kernel(X, activation="relu", depth=2, bias_std=0.5)
    assert relative_difference(uncentred, exact) > 5 * TOLERANCE


def test_empirical_kernels_converge_at_the_monte_carlo_rate():
    X = _inputs(n=20)
    generator = torch.Generator().manual_seed(6)
    exact = ntk(X, activation="tanh")
    errors = []
    for width in (2**8, 2**12, 2**16):
        W0 = torch.randn(width, X.shape[1], generator=generator, dtype=torch.float64)
        errors.append(
            relative_difference(
                empirical_ntk(W0 / math.sqrt(X.shape[1]), X, activation="tanh"), exact
            )
        )
    # 16x the width: about 4x smaller error; allow noise.
    assert errors[1] < errors[0] / 2 and errors[2] < errors[1] / 2
    assert errors[2] < 0.01
    W0 = torch.randn(2**16, X.shape[1], generator=generator, dtype=torch.float64)
    W0 /= math.sqrt(X.shape[1])
    assert (
        relative_difference(empirical_nngp(W0, X, activation="gelu"), nngp(X, activation="gelu"))
        < TOLERANCE
    )


def test_empirical_representation_kernel_follows_the_recursion():
    X = _inputs(n=12)
    generator = torch.Generator().manual_seed(7)
    weights = [torch.randn(WIDTH, X.shape[1], generator=generator, dtype=torch.float64)]
    biases = [0.5 * torch.randn(WIDTH, generator=generator, dtype=torch.float64)]
    empirical = empirical_representation_kernel(X, None, weights, biases, "erf")
    exact = representation_kernel(X, activation="erf", bias_std=0.5)
    assert relative_difference(empirical, exact) < TOLERANCE
    with pytest.raises(ValueError, match="weights, biases: .* got 0 matrices"):
        empirical_representation_kernel(X)
    with pytest.raises(ValueError, match="got 1 matrices and 0 bias vectors"):
        empirical_representation_kernel(X, None, weights, [])


def test_representation_module_agrees():
    """The fitted RandomNetworkRepresentation computes the features of the recursion these
    kernels assume (exactly, at any depth), and its kernel converges to the analytic one."""
    representations = pytest.importorskip("hierlearn.representations")
    from hierlearn.kernels import fitted_representation_kernel
    from hierlearn.kernels.empirical import representation_features

    X = _inputs(n=16).numpy()
    fitted = representations.RandomNetworkRepresentation(
        width=256, depth=3, activation="tanh", bias_std=0.3, normalize="none", random_state=0
    ).fit(X)
    features = representation_features(torch.as_tensor(X), fitted.weights_, fitted.biases_, "tanh")
    torch.testing.assert_close(fitted.features(X), features, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        fitted_representation_kernel(fitted, X, center=X[:8]),
        empirical_representation_kernel(
            X, None, fitted.weights_, fitted.biases_, "tanh", center=X[:8]
        ),
        rtol=1e-12,
        atol=1e-12,
    )
    total, networks = 0, 8
    for seed in range(networks):
        representation = representations.RandomNetworkRepresentation(
            width=WIDTH, activation="relu", bias_std=0.3, normalize="none", random_state=seed
        ).fit(X)
        total = total + fitted_representation_kernel(representation, X) / networks
    exact = representation_kernel(X, activation="relu", bias_std=0.3)
    assert relative_difference(total, exact) < TOLERANCE


@pytest.mark.parametrize("kind", ["ntk", "nngp", "linear"])
def test_kernels_are_symmetric_psd_and_blockwise_exact(kind):
    X = _inputs(n=150, d=4)
    spec = {"activation": "tanh", "depth": 2, "bias_std": 0.2}
    for activation, representation in (("relu", None), ("gelu", spec)):
        kernel = InfiniteWidthKernel(kind, activation, representation)
        full = kernel.matrix(X)
        assert full.dtype == torch.float64
        assert torch.equal(full, full.T)
        eigenvalues = torch.linalg.eigvalsh(full)
        assert float(eigenvalues.min()) > -1e-10 * float(eigenvalues.max())
        # A budget that forces 40 x 40 blocks gives the same matrix.
        small = InfiniteWidthKernel(kind, activation, representation, memory_budget=200_000)
        assert small.entries < 150 * 150
        torch.testing.assert_close(small.matrix(X), full, rtol=1e-12, atol=1e-12)
        # Rectangular blocks agree with the symmetric fill (to the series' accuracy: another
        # point set may truncate the Hermite series elsewhere).
        torch.testing.assert_close(small.matrix(X[:70], X), full[:70], rtol=1e-8, atol=1e-10)


def test_dtype_and_device_follow_the_arguments():
    X = _inputs(n=10).to(torch.float32)
    assert ntk(X).dtype == torch.float64
    assert ntk(X, dtype="float32").dtype == torch.float32
    # float32: arccos near rho = 1 loses half the digits (sqrt(eps) ~ 3e-4).
    torch.testing.assert_close(ntk(X, dtype="float32").double(), ntk(X), rtol=2e-3, atol=2e-3)
    assert isinstance(nngp(X.numpy()), torch.Tensor)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    X = _inputs(n=64)
    spec = {"activation": "tanh", "depth": 2}
    for function in (ntk, nngp):
        for activation in ("relu3", "gelu"):
            cpu = function(X, activation=activation, representation=spec)
            gpu = function(X.cuda(), activation=activation, representation=spec)
            assert gpu.device.type == "cuda"
            torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda X: ntk(X, activation="sigmoid"), "activation"),
        (lambda X: nngp(X, representation={"activation": "cube"}), "activation"),
        (lambda X: nngp(X, representation={"activation": "relu", "width": 3}), "representation"),
        (lambda X: ntk(X, representation={"activation": "relu", "depth": 0}), "depth"),
        (lambda X: ntk(X, representation={"activation": "relu", "bias_std": -1}), "bias_std"),
        (lambda X: InfiniteWidthKernel("gp"), "kernel"),
        (lambda X: ntk(X, memory_budget=1000), "memory_budget"),
        (lambda X: ntk(X, memory_budget="lots"), "memory_budget"),
        (lambda X: ntk(X, dtype="float16"), "dtype"),
        (lambda X: ntk(X[0]), "X"),
        (lambda X: ntk(X, X[:, :3]), "X2"),
        (lambda X: ntk(X, center=X), "center"),
    ],
)
def test_bad_arguments_name_themselves(call, name):
    with pytest.raises(ValueError, match=name):
        call(_inputs(n=5))


def test_nan_inputs_are_refused():
    X = _inputs(n=5)
    X[2, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        ntk(X)
    with pytest.raises(ValueError, match="NaN"):
        ntk(np.ones((3, 2)), X)


def _closed_form_matrix(kind, activation, X):
    """The raw-input kernel straight from the dual's (c, q1, q2) formula on whole matrices."""
    trainable = trainable_activation(activation)
    dual = trainable.ntk_dual if kind == "ntk" else trainable.nngp_dual
    gram = X @ X.T
    q = (X * X).sum(1) / X.shape[1]
    value = dual(gram / X.shape[1], q[:, None], q[None, :])
    return value * gram if kind == "ntk" else value


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize("activation", ["relu", "relu2", "relu3"])
def test_arc_cosine_fast_path_equals_the_closed_form(kind, activation):
    """The blockwise path (rho from unit-norm inputs, per-point scales, out= writes, mirrored
    blocks) equals the dual's formula evaluated on the whole matrices, rectangular blocks
    included."""
    X = _inputs(n=130, d=5)
    kernel = InfiniteWidthKernel(kind, activation, memory_budget=200_000)
    assert kernel.entries < 130 * 130  # several blocks
    expected = _closed_form_matrix(kind, activation, X)
    scale = float(expected.abs().max())
    symmetric = kernel.matrix(X)
    assert torch.equal(symmetric, symmetric.T)
    # Off the diagonal (there the whole-matrix formula's rho = <x,x>/|x|^2 is 1 only up to
    # rounding, which arccos amplifies to ~1e-8).
    off = ~torch.eye(130, dtype=torch.bool)
    torch.testing.assert_close(symmetric[off], expected[off], rtol=0, atol=1e-12 * scale)
    rectangle = kernel.matrix(X[:50], X)
    torch.testing.assert_close(
        rectangle[off[:50]], expected[:50][off[:50]], rtol=0, atol=1e-12 * scale
    )
    # A point with itself has correlation exactly 1: the diagonal has no arccos rounding.
    trainable = trainable_activation(activation)
    dual = trainable.ntk_dual if kind == "ntk" else trainable.nngp_dual
    q = (X * X).sum(1) / X.shape[1]
    diagonal = dual(q[:, None], q[:, None], q[:, None])[:, 0]
    if kind == "ntk":
        diagonal = diagonal * (X * X).sum(1)
    torch.testing.assert_close(symmetric.diagonal(), diagonal, rtol=1e-14, atol=0)


def test_arc_cosine_fast_path_with_a_representation_equals_the_series_path():
    """With a representation the fast path forms rho from Sigma_L and per-point inverse
    roots; it equals the dual's (c, q1, q2) formula applied to the whole Sigma_L block."""
    X = _inputs(n=60, d=4)
    spec = {"activation": "relu", "depth": 2, "bias_std": 0.3}
    for kind in ("ntk", "nngp"):
        fast = InfiniteWidthKernel(kind, "relu2", spec).matrix(X)
        # The same kernel with the top map forced onto the generic call dual(c, q1, q2).
        generic = InfiniteWidthKernel(kind, "relu2", spec)
        generic.top_map.arccos = None
        points = generic.prepare(X)
        points = type(points)(points.X, points.layers, points.center, points.top)
        slow = generic.block(points, points, diagonal=True)
        slow = (slow + slow.T) * 0.5
        torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-14)
