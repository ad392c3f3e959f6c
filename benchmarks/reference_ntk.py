"""Reference implementations of hierlearn's relu NTK, timed in their own process.

Run by ``benchmarks/run.py``, usually with the Python of the reference environment that
``benchmarks/setup_reference_env.sh`` builds; it imports neither torch nor hierlearn.

The quantity compared. For raw inputs x in R^d, ``hierlearn.kernels.ntk(X, activation="relu")``
is (see ``hierlearn/kernels/analytic.py``)

    K(x, x') = E[step(u) step(u')] <x, x'> = <x, x'> (pi - theta) / (2 pi),
    (u, u') ~ N(0, [[|x|^2, <x,x'>], [<x,x'>, |x'|^2]] / d),   cos theta = <x,x'> / (|x||x'|),

the NTK of a two-layer relu net in which only the first layer trains.

* ``neural-tangents``: the network ``stax.serial(Dense(1, W_std=1), Relu(), Dense(1, W_std=1))``
  (NTK parameterisation, no biases). Its output kernels are
  nngp = E[relu(u) relu(u')] and ntk = nngp + (<x,x'>/d) E[step(u) step(u')]
  (the first term from the readout layer, the second from the first layer), so
  K = d (ntk - nngp). ``kernel_fn`` is compiled with ``jax.jit`` (float64, ``jax_enable_x64``)
  together with this subtraction; the timing starts after a first, compiling call.
* ``numpy``: the closed form above, block by block in float64 (the fallback where the
  reference environment cannot be built).

Usage: python reference_ntk.py --inputs X.npy --output K.npy --implementation neural-tangents
       --repeats 3 --result result.json
"""

from __future__ import annotations

import argparse
import math
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import Recorder, write_result

IMPLEMENTATIONS = ("neural-tangents", "numpy")


def numpy_relu_ntk(X: np.ndarray, block_rows: int = 1024) -> np.ndarray:
    """<x, x'> (pi - theta) / (2 pi) for all pairs of rows of X, float64."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    out = np.empty((X.shape[0], X.shape[0]))
    for start in range(0, X.shape[0], block_rows):
        rows = slice(start, start + block_rows)
        gram = X[rows] @ X.T
        cosine = gram / np.maximum(np.outer(norms[rows], norms), np.finfo(X.dtype).tiny)
        angle = np.arccos(np.clip(cosine, -1.0, 1.0))
        out[rows] = gram * (math.pi - angle) / (2.0 * math.pi)
    return out


def neural_tangents_relu_ntk():
    """A jitted X -> K built from neural-tangents' stax kernel function, and its version."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax

    _, _, kernel_fn = stax.serial(
        stax.Dense(1, W_std=1.0, parameterization="ntk"),
        stax.Relu(),
        stax.Dense(1, W_std=1.0, parameterization="ntk"),
    )

    @jax.jit
    def first_layer_ntk(X):
        nngp, ntk = kernel_fn(X, None, ("nngp", "ntk"))
        return X.shape[1] * (ntk - nngp)

    def evaluate(X):
        return first_layer_ntk(X).block_until_ready()

    versions = {name: metadata.version(name) for name in ("neural-tangents", "jax", "jaxlib")}
    label = "neural-tangents {neural-tangents} stax (jax {jax}, float64, jit)".format(**versions)
    return evaluate, jax.numpy.asarray, label


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", required=True, help="(n, d) float64 .npy file")
    parser.add_argument("--output", help="where to save the kernel matrix (.npy)")
    parser.add_argument("--implementation", choices=IMPLEMENTATIONS, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--result", required=True, help="JSON file for the timings")
    args = parser.parse_args(argv)

    X = np.load(args.inputs)
    if args.implementation == "numpy":
        evaluate, convert = numpy_relu_ntk, np.asarray
        label = f"NumPy {np.__version__} closed form (float64; fallback)"
    else:
        evaluate, convert, label = neural_tangents_relu_ntk()
    inputs = convert(X)
    recorder = Recorder()
    # The first call compiles (jit) and is not timed.
    recorder.interleave(
        {"reference": (lambda: evaluate(inputs), None)}, {"reference": args.repeats}, warmup=1
    )
    if args.output:
        np.save(args.output, np.asarray(evaluate(inputs), dtype=np.float64))
    write_result(
        args.result, {"label": label, "implementation": args.implementation, **recorder.summary()}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
