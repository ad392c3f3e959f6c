"""Scale of KernelRegressor: a direct solve at n = 20,000 and the iterative one at n = 100,000.

Every case runs in a fresh Python process, which reports its peak resident memory (VmHWM of
/proc/self/status: what the operating system saw, torch's allocations included) and its
resident memory just before ``fit`` (imports and data), so each case's own footprint is
peak - baseline.

Problem: x ~ N(0, I_d), f*(x) = He_2(<b1, x>) / sqrt(2) + <b2, x> (b1, b2 orthonormal, unit
variance), labels y = f* + 0.2 xi; relu NTK with a constant input coordinate
(``input_bias=1``) and a fixed ridge; relative test error mean (f - f*)^2 / mean f*^2 on
fresh points. The data of a case are the first n points of one seeded stream, so the n =
20,000 fits of both solvers see the same training set.

Targets (issue 3): direct peak at most 1.3 x one n x n float64 matrix; iterative peak under
8 GiB; iterative test error within 2% (relative) of the direct one where both fit.

Usage:
    python benchmarks/kernels_scale.py                   # the three cases, a table
    python benchmarks/kernels_scale.py --n-direct 4000 --n-iterative 8000   # a quick run
    python benchmarks/kernels_scale.py --threads 1 --json out.json   # on a busy machine
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time


def _memory_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _data(n: int, n_test: int, d: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    directions, _ = np.linalg.qr(rng.standard_normal((d, 2)))
    test = rng.standard_normal((n_test, d))
    train = rng.standard_normal((n, d))

    def target(X):
        first, second = X @ directions[:, 0], X @ directions[:, 1]
        return (first**2 - 1.0) / math.sqrt(2.0) + second

    labels = target(train) + 0.2 * rng.standard_normal(n)
    return train, labels, test, target(test)


def run_case(args) -> dict:
    """One fit and prediction in this process; returns the measurements."""
    import numpy as np
    import torch

    from hierlearn.estimators.kernel import KernelRegressor

    if args.threads:
        torch.set_num_threads(args.threads)
    X, y, X_test, f_test = _data(args.n, args.n_test, args.d, args.seed)
    baseline = _memory_mib("VmRSS")
    model = KernelRegressor(
        kernel="ntk",
        activation="relu",
        ridge=args.ridge,
        solver=args.solver,
        memory_budget=args.memory_budget,
        n_centers=args.n_centers,
        tol=args.tol,
        max_iter=args.max_iter,
        input_bias=1.0,
        random_state=args.seed,
        device=args.device,
    )
    start = time.perf_counter()
    model.fit(X, y)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    prediction = model.predict(X_test)
    predict_seconds = time.perf_counter() - start
    if args.save_predictions:
        np.save(args.save_predictions, prediction)
    matrix_mib = args.n * args.n * 8 / 2**20
    peak = _memory_mib("VmHWM")
    cuda = args.device == "cuda"
    return {
        "device": args.device,
        "gpu_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "n": args.n,
        "solver": model.solver_,
        "iterations": int(model.n_iter_),
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "relative_test_error": float(np.mean((prediction - f_test) ** 2) / np.mean(f_test**2)),
        "peak_mib": peak,
        "baseline_mib": baseline,
        "own_peak_mib": peak - baseline,
        "matrix_mib": matrix_mib,
        "peak_over_matrix": peak / matrix_mib,
        "torch_threads": torch.get_num_threads(),
    }


def _spawn(args, n: int, solver: str, budget: str, save: str | None) -> dict:
    command = [
        sys.executable,
        __file__,
        "--case",
        "--n",
        str(n),
        "--solver",
        solver,
        "--memory-budget",
        budget,
        "--n-test",
        str(args.n_test),
        "--d",
        str(args.d),
        "--ridge",
        str(args.ridge),
        "--n-centers",
        str(args.n_centers),
        "--tol",
        str(args.tol),
        "--max-iter",
        str(args.max_iter),
        "--seed",
        str(args.seed),
        "--threads",
        str(args.threads),
        "--device",
        args.device,
    ]
    if save:
        command += ["--save-predictions", save]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"case n={n} {solver} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="store_true", help="run one case in this process")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--solver", default="cholesky")
    parser.add_argument("--memory-budget", default="4GiB")
    parser.add_argument("--save-predictions", default=None)
    parser.add_argument("--n-direct", type=int, default=20_000)
    parser.add_argument("--n-iterative", type=int, default=100_000)
    parser.add_argument("--n-test", type=int, default=2_000)
    parser.add_argument("--d", type=int, default=8)
    parser.add_argument("--ridge", type=float, default=1e-4)
    parser.add_argument("--n-centers", type=int, default=3000)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads per case (0: torch's default); on a shared machine "
        "1 avoids oversubscribed OpenMP threads",
    )
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args)))
        return 0

    import tempfile

    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        direct_file, iterative_file = f"{folder}/direct.npy", f"{folder}/iterative.npy"
        results = [
            _spawn(args, args.n_direct, "cholesky", "4GiB", direct_file),
            _spawn(args, args.n_direct, "iterative", "8GiB", iterative_file),
            _spawn(args, args.n_iterative, "iterative", "8GiB", None),
        ]
        direct, iterative = np.load(direct_file), np.load(iterative_file)
        prediction_difference = float(np.linalg.norm(iterative - direct) / np.linalg.norm(direct))
    error_direct = results[0]["relative_test_error"]
    error_iterative = results[1]["relative_test_error"]
    summary = {
        "cases": results,
        "iterative_vs_direct_test_error": abs(error_iterative - error_direct) / error_direct,
        "iterative_vs_direct_predictions": prediction_difference,
        "direct_peak_within_1.3_matrices": results[0]["peak_over_matrix"] <= 1.3,
        "iterative_peak_under_8GiB": results[2]["peak_mib"] < 8 * 1024,
    }
    header = (
        f"{'n':>7} {'solver':>9} {'iter':>5} {'fit s':>8} {'predict s':>9} "
        f"{'test err':>9} {'peak MiB':>9} {'own MiB':>8} {'n x n MiB':>9} {'peak/nxn':>8}"
    )
    print(header)
    for row in results:
        print(
            f"{row['n']:>7} {row['solver']:>9} {row['iterations']:>5} "
            f"{row['fit_seconds']:>8.1f} {row['predict_seconds']:>9.2f} "
            f"{row['relative_test_error']:>9.4f} {row['peak_mib']:>9.0f} "
            f"{row['own_peak_mib']:>8.0f} {row['matrix_mib']:>9.0f} "
            f"{row['peak_over_matrix']:>8.3f}"
        )
    print(
        f"iterative vs direct at n={args.n_direct}: test error differs by "
        f"{100 * summary['iterative_vs_direct_test_error']:.3f}% (relative), predictions by "
        f"{summary['iterative_vs_direct_predictions']:.2e} (relative norm)"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
