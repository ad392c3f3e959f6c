"""The approximation floor of Quad-h: the best quadratic form in (1, h) on many samples.

For a representation h of width D = c d^2 (whitened, random N(0, 1) weights and biases), the
convex quadratic-form learner (:class:`hierlearn.QuadraticFormRegressor`, nuclear penalty,
its path chosen on validation points) is fitted on ``--n`` noise-free points of the degree-4
target He_4(<beta, x>)/sqrt(24) and tested on as many fresh ones. With n far above the
number of samples the learners of the presets see, its test error is the error no
quadratic model on this h can go below at that width: the floor that decides whether an
n*(eps) exists at all (docs/theory.md §3: no n* below a learner's floor). Read the
``converged`` column: on 1e5 heavy-tailed samples the convex solvers are slow
(docs/quadratic-form.md), and a fit that is not converged overstates the floor.

    python examples/representation_floor.py --d 6 --c 1 2 4 --activation step relu
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import hierlearn as hl


def floor(d: int, c: float, activation: str, n: int, seed: int, regs) -> dict:
    """Fit and test the convex learner on one representation; a dict of the results."""
    target = hl.LowRankPolynomial(d, 4, basis="hermite", random_state=seed)
    inputs = hl.GaussianInputs(d)
    X, X_val, X_test = (
        inputs.sample(size, generator=seed * 10 + k).numpy()
        for k, size in ((1, n), (2, n // 5), (3, n))
    )
    width = max(1, round(c * d * d))
    representation = hl.RandomNetworkRepresentation(
        width=width,
        activation=activation,
        bias_std=1.0,
        normalize="whiten",
        n_unlabeled=max(64 * width, 4000),
        random_state=seed,
    ).fit(X)
    Z, Z_val, Z_test = (representation.transform(a) for a in (X, X_val, X_test))
    start = time.perf_counter()
    model = hl.QuadraticFormRegressor(reg=list(regs), input_bias=1.0, max_iter=3000)
    model.fit(Z, np.asarray(target(X)), X_val=Z_val, y_val=np.asarray(target(X_val)))
    f_test = np.asarray(target(X_test))
    error = float(np.mean((model.predict(Z_test) - f_test) ** 2)) / target.second_moment
    return {
        "d": d,
        "c": c,
        "D": width,
        "activation": activation,
        "n": n,
        "test_error": error,
        "reg": model.reg_,
        "rank": model.rank_,
        "converged": bool(model.converged_),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, nargs="+", default=[6])
    parser.add_argument("--c", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    parser.add_argument("--activation", nargs="+", default=["step", "relu"])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--regs", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4])
    args = parser.parse_args()
    print("| d | h | c | D | test error (floor) | reg | rank | converged | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in args.d:
        for activation in args.activation:
            for c in args.c:
                r = floor(d, c, activation, args.n, args.seed, args.regs)
                print(
                    f"| {d} | {activation} | {c:g} | {r['D']} | {r['test_error']:.4f} | "
                    f"{r['reg']:g} | {r['rank']} | {r['converged']} | {r['seconds']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
