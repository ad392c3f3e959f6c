"""How much of the degree-2 part of a target a whitened random representation expresses.

For each representation (activation, random-bias law, width D = c d^2) and d, prints the
out-of-sample share of the variance of He_2(<v, x>) / sqrt(2) (three random unit directions v,
averaged) that the best linear fit on the whitened features leaves unexplained
(`hierlearn.representations.linear_residual`), and how far the whitening is from
isotropic on fresh inputs (`hierlearn.representations.whitening_error`). A quadratic
model on h reaches a degree-4 target only through the degree-2 polynomials that h expresses
(docs/theory.md), so this residual bounds what Quad-h can learn at any n.

    python examples/representation_residuals.py [--dimensions 8 12] [--widths 0.5 1 2 4]
"""

from __future__ import annotations

import argparse

import numpy as np

import hierlearn as hl
from hierlearn.representations import linear_residual, whitening_error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dimensions", type=int, nargs="+", default=[8, 12])
    parser.add_argument(
        "--widths",
        type=float,
        nargs="+",
        default=[0.5, 1, 2, 4, 8],
        help="width constants c in D = c d^2",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    generator = np.random.default_rng(args.seed)
    print("| d | activation | bias std | c | D | n_unlabeled | He_2 residual | whitening error |")
    print("|---|---|---|---|---|---|---|---|")
    for d in args.dimensions:
        law = hl.GaussianInputs(d)
        directions = generator.standard_normal((3, d))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        X_eval = law.sample(5000, generator=args.seed + 2).numpy()

        def he2(X, directions=directions):
            t = X @ directions.T
            return (t**2 - 1) / np.sqrt(2)

        variants = [("hermite-2", 0.0, 1.0)]
        variants += [(a, 1.0, c) for a in ("relu", "step") for c in args.widths]
        for activation, bias_std, c in variants:
            width = max(1, round(c * d * d))
            n_unlabeled = max(4 * width, 4000)
            n_fit = max(4 * width, 2000)
            X_fit = law.sample(n_fit, generator=args.seed + 1).numpy()
            representation = hl.RandomNetworkRepresentation(
                width=width,
                activation=activation,
                bias_std=bias_std,
                n_unlabeled=n_unlabeled,
                random_state=args.seed,
            ).fit(X_fit[:2])
            values_fit, values_eval = he2(X_fit), he2(X_eval)
            residual = np.mean(
                [
                    linear_residual(
                        representation, values_fit[:, k], X_fit, values_eval[:, k], X_eval
                    )
                    for k in range(directions.shape[0])
                ]
            )
            error = whitening_error(representation, X_eval)
            print(
                f"| {d} | {activation} | {bias_std:g} | {c:g} | {width} | {n_unlabeled} | "
                f"{residual:.3f} | {error:.2f} |"
            )


if __name__ == "__main__":
    main()
