"""The benchmark cases, each run by ``benchmarks/run.py`` in a fresh Python process.

Usage: python benchmarks/cases.py CASE --params JSON --result PATH

Every case times hierlearn and its baseline in the same process, alternating them
(:class:`_measure.Recorder`), and reports per implementation the durations of every repetition
and the peak resident memory while it ran (VmHWM, reset before each call). What each case
measures, and how, is in its docstring.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import Recorder, children_peak_mib, process_peak_mib, write_result

import hierlearn as hl
import hierlearn.kernels
from hierlearn.linalg import solve_psd_
from hierlearn.taylor import network_output

CASES = {}


def case(function):
    CASES[function.__name__] = function
    return function


def autograd_taylor_objective(z, y, W0, a, scale, activation):
    """The straightforward quadratic-model objective that hierlearn's hand-written one replaces.

    f^Q_W(z) = (1/2) d^2/dt^2 f_{W0 + tW}(z) at t = 0, taken with nested forward-mode
    derivatives (``torch.func.jvp`` of ``jvp``) of :func:`hierlearn.taylor.network_output`;
    the loss is mean (y - f^Q)^2 with W = scale * U, and its gradient in U comes from
    reverse-mode autograd through both jvps.
    """
    one = torch.ones((), dtype=z.dtype)
    zero = torch.zeros((), dtype=z.dtype)

    def objective(U, rows=None):
        U = U.detach().requires_grad_(True)
        W = scale * U

        def along(t):
            return network_output(z, W0, a, t * W, activation)

        def first_derivative(t):
            return torch.func.jvp(along, (t,), (one,))[1]

        quadratic = 0.5 * torch.func.jvp(first_derivative, (zero,), (one,))[1]
        residual = y - quadratic
        loss = (residual * residual).mean()
        (grad,) = torch.autograd.grad(loss, U)
        return loss.detach(), grad

    return objective


@case
def quad_step(params: dict) -> dict:
    """One full-batch training step of ``QuadraticTaylorRegressor`` against two baselines.

    Data: z (n, D) and y (n,) standard normal, float32. The estimator is fitted once with
    ``epochs=1`` on this data, which sets W0_, a_ and scale_ exactly as any fit does; its
    objective ``_objective(z, y)`` (the hand-written loss and gradient, curvature mask cached)
    then drives the timed step: ``loss, grad = objective(U, None)``, ``U.grad = grad``,
    ``Adam.step()``, with U of standard normal entries (the scale of U at a solution).

    Baselines, timed alternately with it:

    * ``matmul``: the two products the step needs, (n, D) @ (D, m) and (m, n) @ (n, D), with
      torch's own matmul on the same machine; both are credited 4 n D m flops.
    * ``autograd_taylor``: the same step with :func:`autograd_taylor_objective` (checked to
      give the same loss and gradient first).

    Also measured: seconds per epoch of ``fit`` itself, as (t(fit, E2 epochs) - t(fit, E1
    epochs)) / (E2 - E1), which adds the training loop's own work (loss checks) to the step.
    """
    n, D, m = params["n"], params["D"], params["m"]
    device = params.get("device", "cpu")
    generator = torch.Generator().manual_seed(params["seed"])
    z = torch.randn(n, D, generator=generator)
    y = torch.randn(n, generator=generator)
    X, y_np = z.numpy(), y.numpy()
    estimator = hl.QuadraticTaylorRegressor(
        width=m, epochs=1, input_bias=0.0, random_state=params["seed"], device=device
    )
    estimator.fit(X, y_np)
    z, y = z.to(device), y.to(device)
    objective = estimator._objective(z, y)
    reference = autograd_taylor_objective(
        z, y, estimator.W0_, estimator.a_, estimator.scale_, estimator.activation
    )
    start = torch.randn(m, D, generator=generator).to(device)

    loss, grad = objective(start, None)
    reference_loss, reference_grad = reference(start)
    torch.testing.assert_close(loss, reference_loss, rtol=1e-4, atol=0.0)
    grad_scale = float(reference_grad.abs().max())
    torch.testing.assert_close(grad, reference_grad, rtol=1e-3, atol=1e-4 * grad_scale)
    agreement = {
        "loss_relative_difference": abs(float(loss - reference_loss)) / float(reference_loss),
        "grad_max_difference_over_max": float((grad - reference_grad).abs().max()) / grad_scale,
    }

    def stepper(function):
        U = start.clone()
        optimizer = torch.optim.Adam([U], lr=estimator.lr)

        def step():
            _, U.grad = function(U, None)
            optimizer.step()

        return step

    B = torch.randn(D, m, generator=generator).to(device)
    C = torch.randn(m, n, generator=generator).to(device)

    def matmuls():
        torch.mm(z, B)
        torch.mm(C, z)

    recorder = Recorder(device)
    recorder.interleave(
        {
            "hierlearn": (stepper(objective), None),
            "matmul": (matmuls, None),
            "autograd_taylor": (stepper(reference), None),
        },
        {
            "hierlearn": params["repeats"],
            "matmul": params["repeats"],
            "autograd_taylor": params["reference_repeats"],
        },
    )

    low, high = params["fit_epochs"]
    fit_seconds = []
    for _ in range(params["fit_repeats"]):
        times = []
        for epochs in (low, high):
            start_time = time.perf_counter()
            hl.QuadraticTaylorRegressor(
                width=m, epochs=epochs, input_bias=0.0, random_state=params["seed"], device=device
            ).fit(X, y_np)
            times.append(time.perf_counter() - start_time)
        fit_seconds.append((times[1] - times[0]) / (high - low))
    return {
        **recorder.summary(),
        "flops": 4 * n * D * m,
        "torch_threads": torch.get_num_threads(),
        "agreement": agreement,
        "fit_epoch_seconds": fit_seconds,
    }


def _he4_problem(
    d: int,
    n: int,
    seed: int,
    width: int | None,
    activation: str = "hermite-2",
    bias_std: float = 0.0,
):
    """He_4(<beta, x>)/sqrt(24) on gaussian x: raw inputs (``width`` None) or whitened
    features of a random network of ``width`` (He_2 features by default); training and
    validation sets (n and n // 4 points)."""
    target = hl.LowRankPolynomial(d, 4, basis="hermite", random_state=seed)
    inputs = hl.GaussianInputs(d)
    X = inputs.sample(n, generator=seed * 10 + 1)
    X_val = inputs.sample(n // 4, generator=seed * 10 + 2)
    y, y_val = target(X).numpy(), target(X_val).numpy()
    X, X_val = X.numpy(), X_val.numpy()
    if width is not None:
        representation = hl.RandomNetworkRepresentation(
            width=width,
            activation=activation,
            bias_std=bias_std,
            n_unlabeled=max(64 * width, 4000),
            random_state=seed,
        ).fit(X)
        X, X_val = representation.transform(X), representation.transform(X_val)
    return X, y, X_val, y_val


@case
def candidate_search(params: dict) -> dict:
    """The presets' 12 candidates of a trained quadratic model (act'' in {step, relu, 1} times
    reg in {0, 1e-6, 1e-5, 1e-4}; Adam, lr 0.2, plateau rule, float32) on one cell's data,
    trained as one batch (``estimators._batched.fit_candidates``, what a cell runs) against
    one by one (each candidate's own ``fit``); the kept validation errors are checked equal.
    """
    from hierlearn.estimators._batched import fit_candidates

    X, y, X_val, y_val = _he4_problem(params["d"], params["n"], params["seed"], params["width"])
    base = dict(
        width=256,
        optimizer="adam",
        lr=0.2,
        epochs=params["epochs"],
        eval_every=10,
        n_iter_no_change=20,
        tol=0.01,
        input_bias=math.sqrt(X.shape[1]),
        random_state=0,
    )
    candidates = [
        {"activation": activation, "reg": reg}
        for activation in ("relu2", "relu3", "quadratic")
        for reg in (0.0, 1e-6, 1e-5, 1e-4)
    ]
    fitted = {}

    def batched():
        estimators = [hl.QuadraticTaylorRegressor(**base, **c) for c in candidates]
        fit_candidates(estimators, X, y, X_val, y_val)
        fitted["batched"] = estimators

    def one_by_one():
        estimators = [hl.QuadraticTaylorRegressor(**base, **c) for c in candidates]
        for estimator in estimators:
            estimator.fit(X, y, X_val=X_val, y_val=y_val)
        fitted["one_by_one"] = estimators

    recorder = Recorder()
    recorder.interleave(
        {"hierlearn": (batched, None), "one_by_one": (one_by_one, None)},
        {"hierlearn": params["repeats"], "one_by_one": params["repeats"]},
        warmup=0,
    )
    errors = {
        name: [e.validation_error_ for e in estimators] for name, estimators in fitted.items()
    }
    largest = max(
        abs(a - b) / max(abs(b), 1e-12)
        for a, b in zip(errors["batched"], errors["one_by_one"], strict=True)
    )
    return {
        **recorder.summary(),
        "epochs_run": [e.n_epochs_ for e in fitted["batched"]],
        "largest_relative_difference_of_validation_errors": largest,
    }


@case
def convex_path(params: dict) -> dict:
    """The convex learner's penalty path (reg 0.1, 0.01, 0.001, warm-started, duality gap
    1e-4) on whitened He_2 features with the presets' input bias sqrt(D): ADMM (the presets'
    solver) against the proximal solver (FISTA), capped at ``max_iter`` iterations a value."""
    width = params["d"] * (params["d"] + 1) // 2
    X, y, X_val, y_val = _he4_problem(params["d"], params["n"], params["seed"], width)
    results = {}

    def fit(solver):
        def call():
            model = hl.QuadraticFormRegressor(
                reg=[1e-1, 1e-2, 1e-3],
                input_bias=math.sqrt(width),
                solver=solver,
                tol=1e-4,
                max_iter=params["max_iter"],
            ).fit(X, y, X_val, y_val)
            results[solver] = model

        return call

    import warnings

    from sklearn.exceptions import ConvergenceWarning

    recorder = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        recorder.interleave(
            {"hierlearn": (fit("admm"), None), "proximal": (fit("proximal"), None)},
            {"hierlearn": params["repeats"], "proximal": params["repeats"]},
            warmup=0,
        )
    return {
        **recorder.summary(),
        "objective": {k: float(m.objective_) for k, m in results.items()},
        "gap": {k: m.gap_ for k, m in results.items()},
        "converged": {k: bool(m.converged_) for k, m in results.items()},
    }


@case
def convex_step(params: dict) -> dict:
    """One step of the convex learner's solvers against the matrix products it needs.

    Data: U (n, D') and y (n,) standard normal, float64, and a symmetric A. The proximal
    (and ADMM) step's data term is two products of n D'^2 multiply-adds: the prediction
    u_i^T A u_i (U @ A, then a row-wise product) and the gradient U^T diag(r) U; the step
    adds the eigendecomposition of a D' x D' matrix for the nuclear-norm prox. The factored
    solver's objective and gradient at rank r are two products of n D' r each (U @ [P N],
    U^T (w * UP)).

    Baselines: ``matmul``, torch's matmul of the same shapes, (n, D') @ (D', D') and
    (D', n) @ (n, D'); ``matmul_factored``, (n, D') @ (D', r) and (D', n) @ (n, r).
    """
    from hierlearn.estimators.quadratic_form import QuadraticFormRegressor, _Problem

    n, width, rank = params["n"], params["width"], params["rank"]
    device = params.get("device", "cpu")
    generator = torch.Generator().manual_seed(params["seed"])

    def normal(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64).to(device)

    U, y = normal(n, width), normal(n)
    problem = _Problem(U, y)
    A = normal(width, width)
    A = (A + A.T) / 2
    factors = normal(width, rank)
    objective = QuadraticFormRegressor(reg=1e-3)._factored_objective(problem, 1e-3, rank // 2)
    B, R, F = normal(width, width), normal(n, width), normal(n, rank)

    def proximal_step():
        G = problem.gradient(problem.predict(A))
        torch.linalg.eigh(A - 1e-3 * G)

    def matmuls():
        torch.mm(U, B)
        torch.mm(U.T, R)

    def matmuls_factored():
        torch.mm(U, factors)
        torch.mm(U.T, F)

    recorder = Recorder(device)
    recorder.interleave(
        {
            "hierlearn": (proximal_step, None),
            "matmul": (matmuls, None),
            "factored": (lambda: objective(factors), None),
            "matmul_factored": (matmuls_factored, None),
        },
        dict.fromkeys(("hierlearn", "matmul", "factored", "matmul_factored"), params["repeats"]),
    )
    return {
        **recorder.summary(),
        "flops": 4 * n * width * width,
        "factored_flops": 4 * n * width * rank,
        "torch_threads": torch.get_num_threads(),
    }


@case
def convex_large(params: dict) -> dict:
    """The convex learner's fit at the size of the paper's h at d = 20: whitened step
    features of width 2 d^2 = 800 (D' = 801 with the input bias sqrt(D)), n labels of
    He_4(<beta, x>)/sqrt(24), the preset path's first ``n_reg`` penalties (fractions of the
    weight that zeroes A, a factor 5 apart, warm-started), duality gap ``tol``, the solver
    that ``solver="auto"`` picks; timed once (it is the size, not a ratio, that is measured)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    d = params["d"]
    width = 2 * d * d
    Z, y, Z_val, y_val = _he4_problem(d, params["n"], params["seed"], width, "step", 1.0)
    path = [5.0 ** (-k) for k in range(params["n_reg"])]
    model = hl.QuadraticFormRegressor(
        reg=path,
        reg_scale="max",
        input_bias=math.sqrt(width),
        tol=params["tol"],
        max_iter=params["max_iter"],
        device=params.get("device", "cpu"),
    )
    recorder = Recorder(params.get("device", "cpu"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        recorder.run("hierlearn", lambda: model.fit(Z, y, Z_val, y_val))
    return {
        **recorder.summary(),
        "solver": model.solver_,
        "reg": model.reg_,
        "n_iter": model.n_iter_,
        "gap": model.gap_,
        "converged": bool(model.converged_),
        "validation_errors": {str(k): v for k, v in model.validation_errors_.items()},
        "rank": model.rank_,
    }


@case
def ntk_kernel(params: dict) -> dict:
    """``hierlearn.kernels.ntk(X, activation="relu")`` (float64) on the inputs in a .npy file.

    Times ``repeats`` calls after one untimed call, then compares the matrix with the
    reference's (saved by ``reference_ntk.py``): the largest absolute difference.
    """
    device = params.get("device", "cpu")
    X = torch.as_tensor(np.load(params["inputs"]), dtype=torch.float64, device=device)
    recorder = Recorder(device)

    def evaluate():
        return hl.kernels.ntk(X, activation="relu")

    recorder.interleave({"hierlearn": (evaluate, None)}, {"hierlearn": params["repeats"]})
    result = recorder.summary()
    if params.get("reference_matrix"):
        ours = evaluate().cpu().numpy()
        reference = np.load(params["reference_matrix"], mmap_mode="r")
        result["max_abs_difference"] = float(np.max(np.abs(ours - reference)))
        result["max_abs_entry"] = float(np.max(np.abs(reference)))
    return result


@case
def krr_direct(params: dict) -> dict:
    """The kernel ridge solve of ``KernelRegressor``'s direct path against torch's Cholesky.

    K is the relu NTK of n standard normal points in d dimensions (float64), built fresh
    before every call and not timed. Timed: ``hierlearn.linalg.solve_psd_(K, y, n * ridge)``
    (what ``KernelRegressor(solver="cholesky")`` runs on the kernel matrix: the shift, an
    in-place blocked Cholesky of one triangle and two triangular solves) against
    ``torch.linalg.cholesky(K + n ridge I)`` alone (the shift added untimed). The solution is
    checked by its relative residual.
    """
    n, d = params["n"], params["d"]
    device = params.get("device", "cpu")
    generator = torch.Generator().manual_seed(params["seed"])
    X = torch.randn(n, d, generator=generator, dtype=torch.float64).to(device)
    y = torch.randn(n, generator=generator, dtype=torch.float64).to(device)
    shift = n * params["ridge"]

    def kernel():
        return (hl.kernels.ntk(X, activation="relu"),)

    def shifted_kernel():
        (K,) = kernel()
        K.diagonal().add_(shift)
        return (K,)

    recorder = Recorder(device)
    recorder.interleave(
        {
            "hierlearn": (lambda K: solve_psd_(K, y, shift), kernel),
            "cholesky": (torch.linalg.cholesky, shifted_kernel),
        },
        {"hierlearn": params["repeats"], "cholesky": params["repeats"]},
        warmup=0,
    )
    (K,) = kernel()
    alpha = solve_psd_(K.clone(), y, shift)
    residual = K @ alpha + shift * alpha - y
    return {
        **recorder.summary(),
        "relative_residual": float(residual.norm() / y.norm()),
        "matrix_mib": n * n * 8 / 2**20,
    }


@case
def krr_ridge_path(params: dict) -> dict:
    """The presets' ridge grid (1e-10, 1e-8, ..., 1e-2) on one kernel matrix: what a
    ``KernelRegressor`` with a ridge list runs (``hierlearn.linalg.ridge_path``: two
    Cholesky factorisations and multi-shift Lanczos) against one in-place Cholesky solve per
    ridge (``solve_psd_`` on a reused copy, the path before) plus the same validation
    product. K is the relu NTK of n standard normal points in d dimensions with a constant
    coordinate 1 (the raw-input default), float64, built once and not timed; the validation
    predictions of the two are compared.
    """
    from hierlearn.linalg import ridge_path

    n, d = params["n"], params["d"]
    device = params.get("device", "cpu")
    generator = torch.Generator().manual_seed(params["seed"])

    def points(count):
        X = torch.randn(count, d, generator=generator, dtype=torch.float64)
        return torch.cat([X, torch.ones(count, 1, dtype=torch.float64)], 1).to(device)

    X, X_val = points(n), points(n // 4)
    y = X[:, 0] ** 2 - 1 + 0.3 * torch.randn(n, generator=generator, dtype=torch.float64)
    y = y.to(device)
    K = hl.kernels.ntk(X, activation="relu")
    K_val = hl.kernels.ntk(X_val, X, activation="relu")
    ridges = [1e-10, 1e-8, 1e-6, 1e-4, 1e-2]
    predictions = {}

    def path():
        predictions["hierlearn"] = ridge_path(K, y, K_val, ridges).predictions

    def per_ridge():
        work, columns = torch.empty_like(K), []
        for ridge in ridges:
            work.copy_(K)
            columns.append(solve_psd_(work, y, n * ridge))
        predictions["per_ridge"] = K_val @ torch.stack(columns, 1)

    recorder = Recorder(device)
    recorder.interleave(
        {"hierlearn": (path, None), "per_ridge": (per_ridge, None)},
        {"hierlearn": params["repeats"], "per_ridge": params["repeats"]},
        warmup=0,
    )
    difference = (predictions["hierlearn"] - predictions["per_ridge"]).norm(dim=0)
    return {
        **recorder.summary(),
        "largest_relative_difference_of_predictions": float(
            (difference / predictions["per_ridge"].norm(dim=0)).max()
        ),
    }


@case
def sweep(params: dict) -> dict:
    """Cells per minute of a spec run by the harness, as ``hierlearn run spec.yaml --workers W``.

    In this (fresh) process, every cell of the spec runs into a fresh SQLite store through
    ``run_spec`` on a new ``make_executor(workers=W)``, timed from the call that creates the
    pool (its start-up included, as on the command line) to the last stored row: the *cold*
    run. Then the same sweep again, into fresh stores: on the same, now warm, pool (*warm*),
    and on a second pool created after closing the first (*next pool*: what a second spec of
    the same driver process sees, e.g. ``hierlearn reproduce``'s control run). The ideal rate
    is what W workers would reach if the driver, the pool and the store cost nothing: 60 W
    cells / (sum of the cells' own run time, the ``seconds`` field of their rows), for each
    run separately.
    """
    from hierlearn.experiments import Store, load_spec, make_executor, run_spec

    spec, _ = load_spec(params["spec"])
    spec = spec.model_copy(update={"device": params.get("device", "cpu")})
    workers = params["workers"]

    def run(executor, folder: str, name: str, started: float):
        with Store(Path(folder) / name, create=True) as store:
            summary = run_spec(spec, store, executor)
            rows = store.rows()
        wall = time.perf_counter() - started
        if summary.statuses.get("ok", 0) != summary.ran:
            raise RuntimeError(f"cells did not all succeed: {dict(summary.statuses)}")
        # workers = 0 runs the cells in the driver: one at a time.
        busy = sum(row["seconds"] for row in rows)
        return {
            "cells": summary.ran,
            "cells_per_minute": 60.0 * summary.ran / wall,
            "ideal_cells_per_minute": 60.0 * max(1, workers) * summary.ran / busy,
        }

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        executor = make_executor(workers=workers)
        try:
            results["cold"] = run(executor, folder, "cold.sqlite", started)
            results["warm"] = run(executor, folder, "warm.sqlite", time.perf_counter())
        finally:
            executor.close()
        started = time.perf_counter()
        executor = make_executor(workers=workers)
        try:
            results["next_pool"] = run(executor, folder, "next.sqlite", started)
        finally:
            executor.close()
    return {
        **results,
        "workers": workers,
        "driver_peak_memory_mib": process_peak_mib(),
        "worker_peak_memory_mib": children_peak_mib(),
    }


@case
def adaptive_search(params: dict) -> dict:
    """Fits (cells) of the adaptive n* search against a geometric grid of the same resolution.

    The spec mirrors ``tests/test_adaptive.py``: a linear target, NTK learner, dimensions
    ``dims``, ``seeds`` seeds, bracket [d, 64 d]. The adaptive search uses the spec's default
    growth and relative precision rho; the grid has ceil(log 64 / log(1 + rho)) + 1 points over
    the bracket, so both resolve n* to a factor 1 + rho. Both run to the end; the n* they find
    are checked to agree within a factor (1 + rho)^2.
    """
    from hierlearn.experiments import Store, analyse, make_executor, parse_spec, run_spec
    from hierlearn.experiments.spec import AdaptiveSamples

    base = {
        "name": "adaptive-benchmark",
        "target": {"degrees": 1},
        "dimensions": params["dims"],
        "seeds": params["seeds"],
        "validation_fraction": 0.25,  # n = d = 4 holds one validation label
        "test_size": 1000,
        "design_size": 1000,
        "eps": 0.1,
        "device": params.get("device", "cpu"),
        "learners": {
            "ntk": {
                "theory": "ntk-x",
                "model": {"kind": "ntk", "params": {"width": 128, "ridge": 1e-3}},
            },
        },
    }
    bracket = ["d", "64*d"]
    precision = AdaptiveSamples.model_fields["rel_precision"].default
    points = math.ceil(math.log(64) / math.log1p(precision)) + 1
    plans = {
        "adaptive": {"mode": "adaptive", "bracket": bracket},
        "grid": {"mode": "grid", "start": "d", "stop": "64*d", "num": points},
    }
    fits, n_star = {}, {}
    executor = make_executor(workers=params["workers"])
    try:
        for name, samples in plans.items():
            spec = parse_spec({**copy.deepcopy(base), "samples": samples})
            with tempfile.TemporaryDirectory() as folder:
                with Store(Path(folder) / f"{name}.sqlite", create=True) as store:
                    summary = run_spec(spec, store, executor)
                    analysis = analyse(store.rows(), spec.eps, n_bootstrap=10)
            fits[name] = summary.ran
            n_star[name] = {
                str(d): value.value for d, value in analysis.learners["ntk"].n_star.items()
            }
    finally:
        executor.close()
    agree = all(
        abs(math.log(n_star["adaptive"][d] / n_star["grid"][d])) <= 2 * math.log1p(precision)
        for d in n_star["grid"]
    )
    return {
        "fits": fits,
        "n_star": n_star,
        "n_star_agree": agree,
        "rel_precision": precision,
        "grid_points": points,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run one benchmark case.")
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--params", required=True, help="the case's parameters as JSON")
    parser.add_argument("--result", required=True, help="JSON file to write the result to")
    args = parser.parse_args(argv)
    result = CASES[args.case](json.loads(args.params))
    write_result(args.result, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
