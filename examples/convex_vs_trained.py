"""The trained quadratic model with act'' = 1 against its convex infinite-width limit.

QuadraticTaylorRegressor(activation="quadratic", reg=lam) at width m minimises
(1/n) sum (y - f_W)^2 + lam ||W||_{2,4}^8 over W (m x D'); QuadraticFormRegressor(
penalty="taylor", reg=lam) minimises the same objective over the matrix A that W represents,
with the penalty's exact image 64 lam (tr(A_+)^2 + tr(A_-)^2)^2 (docs/quadratic-form.md §4):
the two problems have the same optimum once m/2 >= the rank of each sign part of the
convex solution. This script fits both on whitened He_2 features of a degree-4 target and
prints, for every width m, the trained model's objective gap (L_m - L*) / L* and the test
errors of both (relative to the target's exact second moment, on fresh points).

    python examples/convex_vs_trained.py --d 6 --n 400 --reg 1e-4
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import hierlearn as hl
from hierlearn.taylor import norm_2_4


def objective(prediction: np.ndarray, y: np.ndarray, penalty: float) -> float:
    return float(np.mean((y - prediction) ** 2)) + penalty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=6)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--reg", type=float, default=1e-4)
    parser.add_argument("--noise", type=float, default=0.0, help="label noise std")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512, 1024])
    parser.add_argument("--epochs", type=int, default=3000, help="L-BFGS iterations")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    d = args.d
    target = hl.LowRankPolynomial(
        d, 4, basis="hermite", noise_std=args.noise, random_state=args.seed
    )
    inputs = hl.GaussianInputs(d)
    X = inputs.sample(args.n, generator=args.seed * 10 + 1).numpy()
    X_test = inputs.sample(100_000, generator=args.seed * 10 + 2).numpy()
    y = np.asarray(target.labels(torch.as_tensor(X), args.seed * 10 + 3))
    f_test = np.asarray(target(X_test))
    width = d * (d + 1) // 2
    representation = hl.RandomNetworkRepresentation(
        width=width,
        activation="hermite-2",
        normalize="whiten",
        n_unlabeled=max(64 * width, 4000),
        random_state=args.seed,
    ).fit(X)
    Z, Z_test = representation.transform(X), representation.transform(X_test)
    bias = float(np.sqrt(width))

    def test_error(prediction):
        return float(np.mean((prediction - f_test) ** 2)) / target.second_moment

    start = time.perf_counter()
    convex = hl.QuadraticFormRegressor(
        reg=args.reg,
        penalty="taylor",
        input_bias=bias,
        solver="proximal",
        tol=1e-9,
        max_iter=20000,
    ).fit(Z, y)
    best = float(convex.objective_)
    eigenvalues = torch.linalg.eigvalsh(convex.A_)
    cutoff = 1e-6 * float(eigenvalues.abs().max())
    ranks = int((eigenvalues > cutoff).sum()), int((eigenvalues < -cutoff).sum())
    print(
        f"d = {d}, D' = {width + 1}, n = {args.n}, reg = {args.reg:g} (taylor penalty), "
        f"label noise std {args.noise:g}; convex optimum L* = {best:.6g} "
        f"(converged {convex.converged_}, {time.perf_counter() - start:.0f} s), "
        f"ranks of A_+ / A_- = {ranks[0]} / {ranks[1]}, "
        f"test error {test_error(convex.predict(Z_test)):.4g}"
    )
    print()
    print("| m | objective L_m | gap (L_m - L*) / L* | test error | seconds |")
    print("|---|---|---|---|---|")
    for m in args.widths:
        start = time.perf_counter()
        model = hl.QuadraticTaylorRegressor(
            width=m,
            activation="quadratic",
            reg=args.reg,
            input_bias=bias,
            optimizer="lbfgs",
            lr=1.0,
            epochs=args.epochs,
            dtype="float64",
            random_state=args.seed,
        ).fit(Z, y)
        penalty = args.reg * float(norm_2_4(model.W_)) ** 8
        value = objective(model.predict(Z), y, penalty)
        print(
            f"| {m} | {value:.6g} | {(value - best) / best:.2e} | "
            f"{test_error(model.predict(Z_test)):.4g} | {time.perf_counter() - start:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
