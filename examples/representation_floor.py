"""The approximation floor of Quad-h: the best quadratic form in (1, h) on many samples.

For a representation h of width D = c d^2 (whitened, random N(0, 1) weights and biases), a
quadratic form u^T A u in u = (h, 1) is fitted on ``--n`` noise-free points of the degree-4
target He_4(<beta, x>)/sqrt(24) and tested on as many fresh ones. With n far above the
number of samples the learners of the presets see, its test error is the error no
quadratic model on this h can go below at that width: the floor that decides whether an
n*(eps) exists at all (docs/theory.md §3: no n* below a learner's floor).

Two solvers. ``lstsq`` (default): ridge least squares on the P = D'(D'+1)/2 coefficients of
A, from the P x P Gram matrix of the features u_j u_k (accumulated in row chunks, one
eigendecomposition for the whole ridge grid, the ridge chosen on validation points): exact,
O(n P^2 + P^3), so up to P of about 10^4 (D' ~ 145) on a laptop; the test error exceeds the
floor by about P/n of it (the fit's variance). ``convex``: the nuclear-norm learner
`hierlearn.QuadraticFormRegressor`, O(n D'^2) a step but slow to converge on 1e5
heavy-tailed samples (docs/quadratic-form.md): read its ``converged`` column, a fit that is
not converged overstates the floor. ``stream``: for widths where P is out of reach (c >= 8 or
d >= 16), a quadratic form of rank at most ``--rank`` plus a linear term,
f(u) = a^T u + sum_k lambda_k (U_k^T u)^2, trained by Adam with a cosine schedule on fresh
points at every step (``--steps`` batches of ``--batch``; no point is seen twice, so the fit
has no variance term to overfit with) and tested on ``--n`` fresh ones. O(batch D (d + rank))
a step and O(D rank) memory; h centred (mean of 20,000 inputs), neither scaled nor whitened:
an invertible affine map of h leaves the set of quadratic forms in (1, h) unchanged, so the
floor is the same, and scaling each unit to variance 1 multiplies a rarely firing step unit
by up to 1/sqrt(P(fire)), which Adam's per-coordinate steps turned into test errors of 2-577
at d = 6-16. Test it on n = 1e6 points: on He_4 a bounded form's squared error has a standard
deviation of about sqrt(639 / n) from the target's tails alone.

Every solver gives an upper bound of the floor: any form's expected test error is at least
the best form's.

    python examples/representation_floor.py --d 6 --c 1 2 4 --activation step relu
    python examples/representation_floor.py --solver stream --d 16 --c 8 --activation relu
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import hierlearn as hl

# Ridges of the least-squares solver, relative to the Gram matrix's largest eigenvalue.
LSTSQ_RIDGES = (1e-10, 1e-8, 1e-6, 1e-4)
# Adam's step size of the streaming solver is STREAM_LR / sqrt(D + 1): the form's output moves
# with the number of coordinates an update touches (lr 1e-2 diverged at D = 9,216).
STREAM_LR = 0.1


def symmetric_features(Z: torch.Tensor) -> torch.Tensor:
    """Rows (u_j u_k, j <= k; off-diagonal ones times sqrt(2)) of u = (z, 1): u^T A u is their
    inner product with the matching entries of A (off-diagonal ones times sqrt(2))."""
    U = torch.cat([Z, torch.ones(Z.shape[0], 1, dtype=Z.dtype)], dim=1)
    rows, cols = torch.triu_indices(U.shape[1], U.shape[1])
    scale = torch.where(rows == cols, 1.0, 2.0**0.5).to(Z.dtype)
    return U[:, rows] * U[:, cols] * scale


def least_squares(Z, y, Z_val, y_val, Z_test, ridges, chunk: int = 2048):
    """Ridge least squares on `symmetric_features`, the ridge chosen on validation
    points; (test predictions, chosen ridge, number of coefficients P)."""
    Z, Z_val, Z_test = (torch.as_tensor(a, dtype=torch.float64) for a in (Z, Z_val, Z_test))
    y = torch.as_tensor(y, dtype=torch.float64)
    n = Z.shape[0]
    gram, moment = None, None
    for start in range(0, n, chunk):
        features = symmetric_features(Z[start : start + chunk])
        part, target = features.T @ features, features.T @ y[start : start + chunk]
        gram = part if gram is None else gram.add_(part)
        moment = target if moment is None else moment.add_(target)
    values, vectors = torch.linalg.eigh(gram / n)
    projected = vectors.T @ (moment / n)
    scale = values.abs().max()
    best = None
    features_val, y_val = symmetric_features(Z_val), torch.as_tensor(y_val)
    for ridge in ridges:
        coefficients = vectors @ (projected / (values.clamp_min(0.0) + ridge * scale))
        error = float(((features_val @ coefficients - y_val) ** 2).mean())
        if best is None or error < best[0]:
            best = (error, ridge, coefficients)
    _, ridge, coefficients = best
    prediction = torch.cat(
        [
            symmetric_features(Z_test[i : i + chunk]) @ coefficients
            for i in range(0, len(Z_test), chunk)
        ]
    )
    return prediction.numpy(), ridge, len(values)


def streaming(representation, target, inputs, seed, rank, steps, batch, X_test):
    """Train the rank-`rank` form on fresh batches; (test predictions, validation errors at
    60%, 80% and 100% of the steps)."""
    generator = torch.Generator().manual_seed(seed * 10 + 7)
    size = representation.width + 1
    U = (torch.randn(size, rank, generator=generator) / size**0.5).requires_grad_()
    weights = torch.zeros(rank, requires_grad=True)
    linear = torch.zeros(size, requires_grad=True)
    optimizer = torch.optim.Adam([U, weights, linear], lr=STREAM_LR / size**0.5)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: 0.5 * (1.0 + np.cos(np.pi * t / steps))
    )

    mean = representation.transform_tensor(inputs.sample(20_000, generator=generator)).mean(0)

    def form(X):
        Z = representation.transform_tensor(X.to(torch.float32)) - mean
        u = torch.cat([Z, torch.ones(Z.shape[0], 1)], dim=1)
        return u @ linear + ((u @ U) ** 2) @ weights

    def predict(X, chunk=10_000):
        with torch.no_grad():
            return torch.cat([form(X[i : i + chunk]) for i in range(0, len(X), chunk)]).double()

    X_val = inputs.sample(100_000, generator=seed * 10 + 2)
    f_val = torch.as_tensor(np.asarray(target(X_val.numpy())))
    checkpoints, history = {int(steps * q) for q in (0.6, 0.8, 1.0)}, []
    for step in range(1, steps + 1):
        X = inputs.sample(batch, generator=generator)
        y = torch.as_tensor(np.asarray(target(X.numpy())), dtype=torch.float32)
        loss = ((form(X) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step in checkpoints:
            error = float(((predict(X_val) - f_val) ** 2).mean()) / target.second_moment
            history.append(error)
    return predict(torch.as_tensor(X_test)).numpy(), history


def floor(
    d: int,
    c: float,
    activation: str,
    n: int,
    seed: int,
    regs,
    solver: str,
    rank: int = 32,
    steps: int = 1500,
    batch: int = 4096,
) -> dict:
    """Fit and test the best quadratic form on one representation; a dict of the results."""
    target = hl.LowRankPolynomial(d, 4, basis="hermite", random_state=seed)
    inputs = hl.GaussianInputs(d)
    width = max(1, round(c * d * d))
    if solver == "stream":  # trains on fresh points; tested on n of them
        X_test = inputs.sample(n, generator=seed * 10 + 3).numpy()
        representation = hl.RandomNetworkRepresentation(
            width=width,
            activation=activation,
            bias_std=1.0,
            normalize="none",
            random_state=seed,
            dtype="float32",
        ).fit(X_test[:2])
        f_test = np.asarray(target(X_test))
        start = time.perf_counter()
        prediction, history = streaming(
            representation, target, inputs, seed, rank, steps, batch, X_test
        )
        converged = " / ".join(f"{e:.3f}" for e in history)
        n, reg = steps * batch, 0.0  # n: the points trained on
    else:
        X, X_val, X_test = (
            inputs.sample(size, generator=seed * 10 + k).numpy()
            for k, size in ((1, n), (2, n // 5), (3, n))
        )
        representation = hl.RandomNetworkRepresentation(
            width=width,
            activation=activation,
            bias_std=1.0,
            normalize="whiten",
            n_unlabeled=max(64 * width, 4000),
            random_state=seed,
        ).fit(X)
        Z, Z_val, Z_test = (representation.transform(a) for a in (X, X_val, X_test))
        y, y_val, f_test = (np.asarray(target(a)) for a in (X, X_val, X_test))
        start = time.perf_counter()
        if solver == "lstsq":
            prediction, reg, size = least_squares(Z, y, Z_val, y_val, Z_test, LSTSQ_RIDGES)
            rank, converged = size, True  # rank column: the number of coefficients P
        else:
            model = hl.QuadraticFormRegressor(reg=list(regs), input_bias=1.0, max_iter=3000)
            model.fit(Z, y, X_val=Z_val, y_val=y_val)
            prediction, reg = model.predict(Z_test), model.reg_
            rank, converged = model.rank_, bool(model.converged_)
    error = float(np.mean((prediction - f_test) ** 2)) / target.second_moment
    return {
        "d": d,
        "c": c,
        "D": width,
        "activation": activation,
        "n": n,
        "solver": solver,
        "test_error": error,
        "reg": reg,
        "rank": rank,
        "converged": converged,
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
    parser.add_argument("--solver", choices=["lstsq", "convex", "stream"], default="lstsq")
    parser.add_argument("--rank", type=int, default=32, help="stream: rank of the form")
    parser.add_argument("--steps", type=int, default=1500, help="stream: Adam steps")
    parser.add_argument("--batch", type=int, default=4096, help="stream: fresh points a step")
    args = parser.parse_args()
    if args.solver == "stream":  # n is the number of points trained on, converged the
        # validation errors at 60%, 80% and 100% of the steps
        print("| d | h | c | D | test error (floor) | reg | rank | validation 60/80/100% | s |")
    else:
        print("| d | h | c | D | test error (floor) | reg | rank (lstsq: P) | converged | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in args.d:
        for activation in args.activation:
            for c in args.c:
                r = floor(
                    d,
                    c,
                    activation,
                    args.n,
                    args.seed,
                    args.regs,
                    args.solver,
                    args.rank,
                    args.steps,
                    args.batch,
                )
                print(
                    f"| {d} | {activation} | {c:g} | {r['D']} | {r['test_error']:.4f} | "
                    f"{r['reg']:g} | {r['rank']} | {r['converged']} | {r['seconds']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
