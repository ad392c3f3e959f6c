"""Measured kernel ridge error against the predicted learning curve (docs/theory.md,
"Predicted kernel learning curves").

Sphere inputs, a rank-1 degree-4 Gegenbauer target (noise-free), and the two kernels of the
presets: NTK-x (the infinite-width relu NTK on raw x with the input bias sqrt(d)) and NTK-h
(the relu NTK composed with the infinite-width relu representation, N(0, 1) biases). Kernel
ridge follows the harness: the ridge is chosen from the presets' grid on a validation set of
1,000 labelled points (``hierlearn.linalg.ridge_path``, as ``KernelRegressor`` does), and the
relative test error is mean (f_hat - f*)^2 / mean f*^2 on fresh noise-free points. Training
sets are nested across n (the first n points of one draw), as in the harness.

    python examples/kernel_learning_curves.py --quick
    python examples/kernel_learning_curves.py --dims 6 8 10 12 --sizes 500 1000 2000 5000 \\
        10000 --seeds 0 1 2 --out kernel-curves.json

``--ridges`` narrows the grid where one Cholesky factorisation per ridge is costly (n =
20,000: the grid's two largest ridges were never chosen at n >= 1,000).

Results are written to ``--out`` (JSON, one entry per (d, learner, seed), saved as they come,
so an interrupted run keeps what it measured and a rerun skips what is there), and the table
of measured medians against the prediction is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch

from hierlearn.inputs import SphereInputs
from hierlearn.kernels import ntk
from hierlearn.linalg import ridge_path
from hierlearn.targets import LowRankPolynomial
from hierlearn.theory import KERNEL_RIDGE_GRID, kernel_learning_curve

DEGREE = 4
RELU_H = {"activation": "relu", "depth": 1, "bias_std": 1.0}


def learners(d: int) -> dict[str, dict]:
    """The kernel options of NTK-x and NTK-h (the presets' ntk_x and ntk_h)."""
    return {
        "ntk_x": {"input_bias": math.sqrt(d)},
        "ntk_h": {"representation": RELU_H},
    }


def _inputs(X: torch.Tensor, options: dict) -> torch.Tensor:
    bias = options.get("input_bias", 0.0)
    if not bias:
        return X
    return torch.cat([X, torch.full((X.shape[0], 1), bias, dtype=X.dtype)], dim=1)


def measure(d, seed, options, sizes, validation_size, test_size, ridges):
    """Relative test error of kernel ridge at each n (ridge chosen on validation data)."""
    law = SphereInputs(d)
    target = LowRankPolynomial(d, DEGREE, basis="gegenbauer", random_state=1000 + seed)
    X = law.sample(max(sizes), generator=10 * seed + 1)
    X_val = law.sample(validation_size, generator=10 * seed + 2)
    X_test = law.sample(test_size, generator=10 * seed + 3)
    y, y_val, f_test = target(X), target(X_val), target(X_test)
    representation = options.get("representation")
    train = _inputs(X, options)
    K = ntk(train, representation=representation)
    K_rest = ntk(_inputs(torch.cat([X_val, X_test]), options), train, representation=representation)
    rows = []
    for n in sizes:
        start = time.perf_counter()
        path = ridge_path(K[:n, :n], y[:n], K_rest[:, :n], ridges)
        predictions = path.predictions
        val = ((predictions[:validation_size] - y_val[:, None]) ** 2).mean(0) / (y_val**2).mean()
        test = ((predictions[validation_size:] - f_test[:, None]) ** 2).mean(0) / (f_test**2).mean()
        chosen = int(torch.argmin(val))
        rows.append(
            {
                "n": n,
                "ridge": ridges[chosen],
                "test_error": float(test[chosen]),
                "test_errors": [float(v) for v in test],
                "validation_errors": [float(v) for v in val],
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


def predict(d, options, sizes, ridges) -> dict:
    """{n: predicted error, chosen ridge, error at every ridge, degrees resolved}."""
    target = LowRankPolynomial(d, DEGREE, basis="gegenbauer", random_state=0)
    curve = kernel_learning_curve(target, sizes, ridge=ridges, **options)
    return {
        str(n): {
            "error": float(curve.error[i]),
            "ridge": float(curve.ridge[i]),
            "errors": curve.errors[i].tolist(),
            "max_degree": curve.max_degree,
        }
        for i, n in enumerate(sizes)
    }


def table(results: dict) -> str:
    lines = [
        "| d | n | learner | measured median [min, max] | predicted | deviation |",
        "|---|---|---|---|---|---|",
    ]
    for d in sorted({int(k.split("/")[0]) for k in results["measured"]}):
        for learner in ("ntk_x", "ntk_h"):
            runs = [v for k, v in results["measured"].items() if k.startswith(f"{d}/{learner}/")]
            if not runs:
                continue
            prediction = results["predicted"][f"{d}/{learner}"]
            for n in sorted({row["n"] for run in runs for row in run}):
                values = [row["test_error"] for run in runs for row in run if row["n"] == n]
                median = float(np.median(values))
                predicted = prediction[str(n)]["error"]
                lines.append(
                    f"| {d} | {n} | {learner} | {median:.4g} [{min(values):.4g}, "
                    f"{max(values):.4g}] | {predicted:.4g} | {median / predicted - 1:+.1%} |"
                )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[6, 8, 10, 12])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 5000, 10000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--learners", nargs="+", default=["ntk_x", "ntk_h"])
    parser.add_argument("--validation-size", type=int, default=1000)
    parser.add_argument("--test-size", type=int, default=4000)
    parser.add_argument("--out", default=None, help="JSON file of the results (resumable)")
    parser.add_argument("--quick", action="store_true", help="d = 6, n <= 2000, one seed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--ridges",
        type=float,
        nargs="+",
        default=list(KERNEL_RIDGE_GRID),
        help="the ridge grid searched on validation data (default the presets' grid)",
    )
    args = parser.parse_args()
    if args.quick:
        args.dims, args.sizes, args.seeds = [6], [500, 1000, 2000], [0]
    torch.set_num_threads(args.threads)
    ridges = list(args.ridges)
    results = {"measured": {}, "predicted": {}}
    if args.out and os.path.exists(args.out):
        with open(args.out) as handle:
            results = json.load(handle)
    for d in args.dims:
        for learner in args.learners:
            options = learners(d)[learner]
            key = f"{d}/{learner}"
            results["predicted"].setdefault(key, {}).update(predict(d, options, args.sizes, ridges))
            for seed in args.seeds:
                run_key = f"{key}/{seed}"
                done = {row["n"] for row in results["measured"].get(run_key, [])}
                if set(args.sizes) <= done:
                    continue
                start = time.perf_counter()
                rows = measure(
                    d, seed, options, args.sizes, args.validation_size, args.test_size, ridges
                )
                old = [r for r in results["measured"].get(run_key, []) if r["n"] not in args.sizes]
                results["measured"][run_key] = sorted(old + rows, key=lambda r: r["n"])
                print(f"{run_key}: {time.perf_counter() - start:.1f} s", flush=True)
                if args.out:
                    with open(args.out + ".tmp", "w") as handle:
                        json.dump(results, handle)
                    os.replace(args.out + ".tmp", args.out)
    if args.out:
        with open(args.out + ".tmp", "w") as handle:
            json.dump(results, handle)
        os.replace(args.out + ".tmp", args.out)
    print(table(results))


if __name__ == "__main__":
    main()
