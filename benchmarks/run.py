"""hierlearn's benchmark suite: against the machine's limit and the alternatives, side by side.

Usage::

    python benchmarks/run.py [--quick | --smoke] [--json PATH] [--only NAME ...]
                             [--reference-python PATH]

Each benchmark case runs in a fresh Python process (``benchmarks/cases.py``, or
``benchmarks/reference_ntk.py`` in the reference environment), which times hierlearn and its
baseline alternately in the same run and reports the median of several repetitions, and the
peak resident memory of each from the operating system (VmHWM of /proc/self/status, reset
before each call; see ``benchmarks/_measure.py``). The suite prints a table and, with
``--json``, writes ``{"preset", "machine", "entries": [...]}`` where each entry has

    name      what is measured
    value     hierlearn's figure, in ``unit``
    unit      its unit (sizes that differ from the full preset are named here)
    baseline  which baseline ran, and its figure
    ratio     hierlearn against the baseline, oriented so that > 1 means hierlearn is ahead
              (faster, fewer fits, less memory); for ``quad_step_vs_matmul_peak`` it is the
              fraction of the machine's matmul throughput reached

and the extra fields ``baseline_value``, ``target``, ``target_met``, ``peak_memory_mib``,
``baseline_peak_memory_mib``, ``repeats`` and ``details``.

Presets: the full suite (default; tens of minutes on two cores), ``--quick`` (a few minutes:
fewer repetitions and smaller linear-algebra sizes, named in the units) and ``--smoke`` (tiny
sizes, seconds: checks the machinery, the numbers mean nothing).

The neural-tangents baseline runs with the Python of the environment that
``benchmarks/setup_reference_env.sh`` builds (default ``benchmarks/.reference-env``); where it
is missing, a NumPy implementation of the same formula stands in and ``baseline`` says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_REFERENCE_ENV = HERE / ".reference-env"
MATCH_TOLERANCE = 1e-6  # largest absolute difference allowed between the two NTK matrices

PRESETS = {
    "full": {
        "quad": {
            "n": 8192,
            "D": 512,
            "m": 1024,
            "repeats": 9,
            "reference_repeats": 3,
            "fit_epochs": [1, 11],
            "fit_repeats": 3,
            "seed": 0,
        },
        "ntk": {"n": 10_000, "d": 16, "repeats": 5, "rounds": 3, "seed": 0},
        "krr": {"n": 16_000, "d": 16, "ridge": 1e-3, "repeats": 3, "seed": 0},
        "ridge_path": {"n": 8192, "d": 8, "repeats": 5, "seed": 0},
        "krr_iterative": {"n": 100_000, "memory_budget": "3.5GiB"},
        "sweep": {"spec": "examples/specs/tiny.yaml", "workers": 2, "repeats": 3},
        "adaptive": {"dims": [4, 8], "seeds": 3, "workers": 2},
        "search": {
            "small": {"d": 10, "n": 400, "width": 55, "epochs": 4000, "seed": 0, "repeats": 5},
            "large": {"d": 8, "n": 4096, "width": None, "epochs": 4000, "seed": 0, "repeats": 5},
            "convex": {"d": 16, "n": 800, "seed": 0, "max_iter": 20000, "repeats": 5},
        },
        "convex": {
            "step": {"n": 25_600, "width": 801, "rank": 64, "repeats": 5, "seed": 0},
            "large": {"d": 20, "n": 25_600, "n_reg": 5, "tol": 1e-4, "max_iter": 300, "seed": 0},
        },
    },
    "quick": {
        "quad": {
            "n": 8192,
            "D": 512,
            "m": 1024,
            "repeats": 5,
            "reference_repeats": 2,
            "fit_epochs": [1, 6],
            "fit_repeats": 2,
            "seed": 0,
        },
        "ntk": {"n": 10_000, "d": 16, "repeats": 3, "rounds": 2, "seed": 0},
        "krr": {"n": 6000, "d": 16, "ridge": 1e-3, "repeats": 2, "seed": 0},
        "ridge_path": {"n": 4096, "d": 8, "repeats": 5, "seed": 0},
        "krr_iterative": {"n": 20_000, "memory_budget": "3.5GiB"},
        "sweep": {"spec": "examples/specs/tiny.yaml", "workers": 2, "repeats": 2},
        "adaptive": {"dims": [4, 8], "seeds": 3, "workers": 2},
        "search": {
            "small": {"d": 10, "n": 400, "width": 55, "epochs": 4000, "seed": 0, "repeats": 3},
            "large": {"d": 8, "n": 4096, "width": None, "epochs": 4000, "seed": 0, "repeats": 3},
            "convex": {"d": 12, "n": 600, "seed": 0, "max_iter": 20000, "repeats": 3},
        },
        "convex": {
            "step": {"n": 25_600, "width": 801, "rank": 64, "repeats": 3, "seed": 0},
            "large": {"d": 12, "n": 9216, "n_reg": 5, "tol": 1e-4, "max_iter": 300, "seed": 0},
        },
    },
    "smoke": {
        "quad": {
            "n": 256,
            "D": 16,
            "m": 32,
            "repeats": 2,
            "reference_repeats": 1,
            "fit_epochs": [1, 2],
            "fit_repeats": 1,
            "seed": 0,
        },
        "ntk": {"n": 300, "d": 16, "repeats": 2, "rounds": 1, "seed": 0, "reference": "numpy"},
        "krr": {"n": 300, "d": 16, "ridge": 1e-3, "repeats": 1, "seed": 0},
        "ridge_path": {"n": 300, "d": 8, "repeats": 1, "seed": 0},
        "krr_iterative": {"n": 600, "memory_budget": "512MiB", "n_centers": 100, "n_test": 200},
        "sweep": {
            "spec": "examples/specs/tiny.yaml",
            "workers": 0,
            "repeats": 1,
            "overrides": {
                "dimensions": [4],
                "seeds": 1,
                "samples": {"mode": "list", "values": ["4*d"]},
                "learners": ["ntk_x", "kernel_x"],
            },
        },
        "adaptive": {"dims": [4], "seeds": 1, "workers": 0},
        "search": {
            "small": {"d": 4, "n": 80, "width": 10, "epochs": 30, "seed": 0, "repeats": 1},
            "large": {"d": 4, "n": 160, "width": None, "epochs": 30, "seed": 0, "repeats": 1},
            "convex": {"d": 4, "n": 60, "seed": 0, "max_iter": 200, "repeats": 1},
        },
        "convex": {
            "step": {"n": 300, "width": 21, "rank": 4, "repeats": 1, "seed": 0},
            "large": {"d": 3, "n": 200, "n_reg": 2, "tol": 1e-3, "max_iter": 50, "seed": 0},
        },
    },
}
FULL_SIZES = {"krr": 16_000, "ridge_path": 8192, "krr_iterative": 100_000}


class CaseError(RuntimeError):
    """A benchmark process failed."""


def thread_environment(threads: int | None) -> dict:
    """The environment of a benchmark process limited to ``threads`` threads (None: as is).

    Covers OpenMP and MKL (torch, NumPy); XLA's CPU client (neural-tangents on JAX) can only be
    switched to one thread (``--xla_cpu_multi_thread_eigen=false``).
    """
    environment = dict(os.environ)
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            environment[name] = str(threads)
        if threads == 1:
            flags = environment.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
            environment["XLA_FLAGS"] = flags.strip()
    return environment


def core_limiter(threads: int | None):
    """A ``preexec_fn`` that confines a process to ``threads`` cores (the last ones it may use).

    Thread-count settings are not enough to compare libraries core for core: XLA keeps worker
    threads of its own. Where the platform cannot set affinities, nothing is confined.
    """
    if threads is None or not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))[-threads:]

    def confine() -> None:
        os.sched_setaffinity(0, cores)

    return confine


def run_process(
    command: list[str], result_path: Path, timeout: float | None, threads: int | None = None
) -> dict:
    """Run one benchmark process, which writes its JSON result to ``result_path``."""
    completed = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=thread_environment(threads),
        preexec_fn=core_limiter(threads),
    )
    if completed.returncode != 0 or not result_path.exists():
        tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-15:])
        raise CaseError(f"{' '.join(command[:3])} failed (exit {completed.returncode}):\n{tail}")
    return json.loads(result_path.read_text(encoding="utf-8"))


class Suite:
    """Runs the cases of one preset in a scratch folder and collects the entries."""

    def __init__(
        self,
        preset: str,
        reference_python: Path | None,
        folder: Path,
        timeout: float | None,
        threads: int | None = None,
        log=print,
        device: str = "cpu",
    ):
        self.preset = preset
        self.threads = threads
        self.device = device
        self.sizes = PRESETS[preset]
        self.reference_python = reference_python
        self.folder = folder
        self.timeout = timeout
        self.log = log
        self.entries: list[dict] = []
        self.loads: dict[str, list] = {}

    def case(self, name: str, params: dict, confine: bool = True) -> dict:
        """Run a case of ``cases.py``; ``confine=False`` leaves it every core (the harness
        cases, whose workers share out the cores themselves)."""
        result_path = self.folder / f"{name}.json"
        result_path.unlink(missing_ok=True)
        params = {**params, "device": self.device}
        command = [
            sys.executable,
            str(HERE / "cases.py"),
            name,
            "--params",
            json.dumps(params),
            "--result",
            str(result_path),
        ]
        return self._timed(name, command, result_path, self.threads if confine else None)

    def _timed(
        self, name: str, command: list[str], result_path: Path, threads: int | None = None
    ) -> dict:
        before = _load()
        start = time.perf_counter()
        result = run_process(command, result_path, self.timeout, threads)
        self.loads[name] = [before, _load()]
        self.log(f"  {name}: {time.perf_counter() - start:.1f} s")
        return result

    def size_unit(self, group: str, unit: str) -> str:
        n = self.sizes[group]["n"]
        return unit if n == FULL_SIZES[group] else f"{unit}, n={n}"

    def add(
        self,
        name,
        value,
        unit,
        baseline,
        baseline_value,
        ratio,
        target=None,
        target_met=None,
        peak=None,
        baseline_peak=None,
        repeats=None,
        details=None,
    ):
        self.entries.append(
            {
                "name": name,
                "value": value,
                "unit": unit,
                "baseline": baseline,
                "ratio": ratio,
                "baseline_value": baseline_value,
                "target": target,
                "target_met": target_met,
                "peak_memory_mib": peak,
                "baseline_peak_memory_mib": baseline_peak,
                "repeats": repeats,
                "details": details or {},
            }
        )

    def fail(self, names: list[str], error: Exception) -> None:
        for name in names:
            self.add(name, None, None, None, None, None, details={"error": str(error)})

    # ---- the benchmarks ----------------------------------------------------------------

    def quad(self) -> None:
        params = self.sizes["quad"]
        result = self.case("quad_step", params)
        median, peak = result["median_seconds"], result["peak_memory_mib"]
        gflops = result["flops"] / 1e9
        ours, matmul = gflops / median["hierlearn"], gflops / median["matmul"]
        shapes = f"n={params['n']}, D={params['D']}, m={params['m']}, float32"
        fit_epoch = _median(result["fit_epoch_seconds"])
        self.add(
            "quad_step_vs_matmul_peak",
            ours,
            "GFLOP/s",
            f"torch.matmul of the step's two products ({shapes}): {matmul:.1f} GFLOP/s",
            matmul,
            ours / matmul,
            target=">= 0.6",
            target_met=ours / matmul >= 0.6,
            peak=peak["hierlearn"],
            baseline_peak=peak["matmul"],
            repeats=params["repeats"],
            details={
                "step_seconds": median["hierlearn"],
                "flops_per_step": result["flops"],
                "torch_threads": result["torch_threads"],
                "fit_epoch_seconds": fit_epoch,
                "fit_epoch_gflops": gflops / fit_epoch if fit_epoch > 0 else None,
            },
        )
        speedup = median["autograd_taylor"] / median["hierlearn"]
        self.add(
            "quad_step_vs_autograd_taylor",
            1e3 * median["hierlearn"],
            "ms/step",
            "torch.func.jvp-of-jvp quadratic term + autograd gradient, same step: "
            f"{1e3 * median['autograd_taylor']:.0f} ms/step",
            1e3 * median["autograd_taylor"],
            speedup,
            target=">= 3",
            target_met=speedup >= 3,
            peak=peak["hierlearn"],
            baseline_peak=peak["autograd_taylor"],
            repeats=params["reference_repeats"],
            details=result["agreement"],
        )
        self.add(
            "quad_step_peak_memory",
            peak["hierlearn"],
            "MiB",
            f"autograd Taylor step: {peak['autograd_taylor']:.0f} MiB",
            peak["autograd_taylor"],
            peak["autograd_taylor"] / peak["hierlearn"],
            details={"scope": result["peak_scope"]},
        )

    def ntk(self) -> None:
        import numpy as np

        params = self.sizes["ntk"]
        inputs = self.folder / "ntk_inputs.npy"
        matrix = self.folder / "ntk_reference.npy"
        rng = np.random.default_rng(params["seed"])
        np.save(inputs, rng.standard_normal((params["n"], params["d"])))
        python, implementation, fallback_reason = self.reference_python, "neural-tangents", None
        if params.get("reference") == "numpy":
            fallback_reason = "numpy reference requested by the preset"
        elif python is None or not python.exists():
            fallback_reason = (
                f"no reference environment at {python}; run benchmarks/setup_reference_env.sh"
            )
        references = []
        if fallback_reason is None:
            try:
                references.append(self._reference(python, implementation, inputs, matrix, params))
            except (CaseError, subprocess.TimeoutExpired) as error:
                fallback_reason = f"neural-tangents failed: {error}"
        if fallback_reason is not None:
            self.log(f"  neural-tangents not used ({fallback_reason}); NumPy fallback")
            python, implementation = Path(sys.executable), "numpy"
            references.append(self._reference(python, implementation, inputs, matrix, params))
        ours_rounds = [
            self.case(
                "ntk_kernel",
                {
                    "inputs": str(inputs),
                    "reference_matrix": str(matrix),
                    "repeats": params["repeats"],
                },
            )
        ]
        matrix.unlink(missing_ok=True)
        # Further rounds alternate the two processes, so that a change of the machine's load
        # between processes hits both alike.
        for round_ in range(1, params["rounds"]):
            for which in ("hierlearn", "reference")[:: 1 if round_ % 2 else -1]:
                if which == "reference":
                    references.append(self._reference(python, implementation, inputs, None, params))
                else:
                    ours_rounds.append(
                        self.case(
                            "ntk_kernel", {"inputs": str(inputs), "repeats": params["repeats"]}
                        )
                    )
        ours = _merge(ours_rounds, "hierlearn")
        reference = _merge(references, "reference")
        ours_s = ours["median_seconds"]["hierlearn"]
        ref_s = reference["median_seconds"]["reference"]
        is_nt = reference["implementation"] == "neural-tangents"
        speedup = ref_s / ours_s
        match = ours["max_abs_difference"] <= MATCH_TOLERANCE
        unit = "s" if params["n"] == 10_000 else f"s, n={params['n']}"
        cpu_ratio = _median(reference["cpu_seconds"]["reference"]) / _median(
            ours["cpu_seconds"]["hierlearn"]
        )
        details = {
            "n": params["n"],
            "d": params["d"],
            "rounds": params["rounds"],
            "cpu_seconds": _median(ours["cpu_seconds"]["hierlearn"]),
            "baseline_cpu_seconds": _median(reference["cpu_seconds"]["reference"]),
            "cpu_time_ratio": cpu_ratio,
            "max_abs_difference": ours["max_abs_difference"],
            "max_abs_entry": ours["max_abs_entry"],
            "values_match": match,
        }
        if fallback_reason:
            details["fallback_reason"] = fallback_reason
        self.add(
            "ntk_kernel_vs_reference",
            ours_s,
            unit,
            f"{reference['label']}: {ref_s:.3f} s",
            ref_s,
            speedup,
            target=">= 2.5 (against neural-tangents)",
            target_met=(speedup >= 2.5 and match) if is_nt else None,
            peak=ours["peak_memory_mib"]["hierlearn"],
            baseline_peak=reference["peak_memory_mib"]["reference"],
            repeats=params["repeats"] * params["rounds"],
            details=details,
        )
        ours_peak = ours["peak_memory_mib"]["hierlearn"]
        ref_peak = reference["peak_memory_mib"]["reference"]
        self.add(
            "ntk_kernel_peak_memory",
            ours_peak,
            "MiB",
            f"{reference['label']}: {ref_peak:.0f} MiB",
            ref_peak,
            ref_peak / ours_peak,
            details={"scope": ours["peak_scope"], "matrix_mib": params["n"] ** 2 * 8 / 2**20},
        )

    def _reference(
        self, python: Path, implementation: str, inputs: Path, matrix: Path | None, params: dict
    ) -> dict:
        result_path = self.folder / f"reference_{implementation}.json"
        result_path.unlink(missing_ok=True)
        command = [
            str(python),
            str(HERE / "reference_ntk.py"),
            "--inputs",
            str(inputs),
            "--implementation",
            implementation,
            "--repeats",
            str(params["repeats"]),
            "--result",
            str(result_path),
        ]
        if matrix is not None:
            command += ["--output", str(matrix)]
        return self._timed(f"reference_ntk ({implementation})", command, result_path, self.threads)

    def krr(self) -> None:
        params = self.sizes["krr"]
        result = self.case("krr_direct", params)
        median, peak = result["median_seconds"], result["peak_memory_mib"]
        ratio = median["cholesky"] / median["hierlearn"]
        self.add(
            "krr_solve_vs_cholesky_peak",
            median["hierlearn"],
            self.size_unit("krr", "s"),
            f"torch.linalg.cholesky alone, same matrix: {median['cholesky']:.2f} s",
            median["cholesky"],
            ratio,
            target="~ 1 (the solve contains a Cholesky)",
            peak=peak["hierlearn"],
            baseline_peak=peak["cholesky"],
            repeats=params["repeats"],
            details={
                "relative_residual": result["relative_residual"],
                "matrix_mib": result["matrix_mib"],
            },
        )
        self.add(
            "krr_solve_peak_memory",
            peak["hierlearn"],
            self.size_unit("krr", "MiB"),
            f"torch.linalg.cholesky: {peak['cholesky']:.0f} MiB",
            peak["cholesky"],
            peak["cholesky"] / peak["hierlearn"],
            details={"matrix_mib": result["matrix_mib"], "scope": result["peak_scope"]},
        )

    def ridge_path(self) -> None:
        params = self.sizes["ridge_path"]
        result = self.case("krr_ridge_path", params)
        median = result["median_seconds"]
        self.add(
            "krr_ridge_path_vs_cholesky_per_ridge",
            median["hierlearn"],
            self.size_unit("ridge_path", "s"),
            f"one Cholesky solve per ridge, 5 ridges: {median['per_ridge']:.2f} s",
            median["per_ridge"],
            median["per_ridge"] / median["hierlearn"],
            target=">= 1.8 (2 factorisations for 5)",
            target_met=median["per_ridge"] / median["hierlearn"] >= 1.8,
            peak=result["peak_memory_mib"]["hierlearn"],
            baseline_peak=result["peak_memory_mib"]["per_ridge"],
            repeats=params["repeats"],
            details={
                "seconds": result["seconds"],
                "largest_relative_difference_of_predictions": result[
                    "largest_relative_difference_of_predictions"
                ],
            },
        )

    def krr_iterative(self) -> None:
        """The iterative case of ``benchmarks/kernels_scale.py`` (its problem and defaults)."""
        params = self.sizes["krr_iterative"]
        command = [
            sys.executable,
            str(HERE / "kernels_scale.py"),
            "--case",
            "--solver",
            "iterative",
            "--n",
            str(params["n"]),
            "--memory-budget",
            params["memory_budget"],
            "--threads",
            str(self.threads or 0),
            "--device",
            self.device,
        ]
        for option in ("n_centers", "n_test"):
            if option in params:
                command += [f"--{option.replace('_', '-')}", str(params[option])]
        before, start = _load(), time.perf_counter()
        completed = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
            env=thread_environment(self.threads),
            preexec_fn=core_limiter(self.threads),
        )
        if completed.returncode != 0:
            tail = "\n".join(completed.stderr.strip().splitlines()[-15:])
            raise CaseError(f"kernels_scale.py failed (exit {completed.returncode}):\n{tail}")
        self.loads["krr_iterative"] = [before, _load()]
        self.log(f"  kernels_scale.py --case: {time.perf_counter() - start:.1f} s")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        peak, dense = result["peak_mib"], result["matrix_mib"]
        fit = result["fit_seconds"]
        self.add(
            "krr_iterative_seconds",
            fit,
            self.size_unit("krr_iterative", f"s (fit, memory_budget={params['memory_budget']})"),
            "the target, 300 s",
            300.0,
            300.0 / fit,
            target="<= 300 s",
            target_met=fit <= 300,
            repeats=1,
            details={
                key: result[key]
                for key in ("iterations", "relative_test_error", "predict_seconds", "torch_threads")
            },
        )
        self.add(
            "krr_iterative_peak_memory",
            peak,
            self.size_unit("krr_iterative", "MiB"),
            f"one dense n x n float64 matrix: {dense:.0f} MiB",
            dense,
            dense / peak,
            target="< 4 GiB",
            target_met=peak < 4 * 1024,
            peak=peak,
            repeats=1,
            details={
                key: result[key]
                for key in (
                    "fit_seconds",
                    "predict_seconds",
                    "iterations",
                    "relative_test_error",
                    "baseline_mib",
                    "torch_threads",
                )
            },
        )

    def sweep(self) -> None:
        """``repeats`` fresh processes, each a cold run, a warm-pool run and a next-pool run
        (see ``cases.sweep``); medians over the processes of each kind's ratio to its ideal."""
        params = dict(self.sizes["sweep"])
        params["spec"] = self._spec_file(params.pop("spec"), params.pop("overrides", None))
        repeats = params.pop("repeats")
        results = [self.case("sweep", params, confine=False) for _ in range(repeats)]
        workers = max(1, params["workers"])  # 0: cells run in the driver itself
        peak = max(
            r["worker_peak_memory_mib"] if params["workers"] else r["driver_peak_memory_mib"]
            for r in results
        )
        kinds = {
            "sweep_throughput": ("cold", "a fresh process: the pool's start-up included"),
            "sweep_throughput_next_pool": ("next_pool", "a second pool of the same process"),
            "sweep_throughput_warm_pool": ("warm", "the same sweep again on the warm pool"),
        }
        for name, (kind, what) in kinds.items():
            runs = [r[kind] for r in results]
            rate = _median([run["cells_per_minute"] for run in runs])
            ideal = _median([run["ideal_cells_per_minute"] for run in runs])
            ratios = [run["cells_per_minute"] / run["ideal_cells_per_minute"] for run in runs]
            ratio = _median(ratios)
            self.add(
                name,
                rate,
                f"cells/min ({runs[0]['cells']} cells, {workers} workers; {what})",
                f"ideal: {workers} worker(s) busy with cells only: {ideal:.0f} cells/min",
                ideal,
                ratio,
                target=">= 0.9" if kind == "cold" else None,
                target_met=ratio >= 0.9 if kind == "cold" else None,
                peak=peak if kind == "cold" else None,
                repeats=repeats,
                details={"ratios": ratios},
            )
        params = self.sizes["adaptive"]
        result = self.case("adaptive_search", params, confine=False)
        fits = result["fits"]
        ratio = fits["grid"] / fits["adaptive"]
        self.add(
            "adaptive_nstar_fits_vs_grid",
            fits["adaptive"],
            "fits",
            f"geometric grid of the same resolution: {fits['grid']} fits",
            fits["grid"],
            ratio,
            target=">= 3 and the same n*",
            target_met=ratio >= 3 and result["n_star_agree"],
            repeats=1,
            details={
                key: result[key]
                for key in ("n_star", "n_star_agree", "rel_precision", "grid_points")
            },
        )

    def search(self) -> None:
        sizes = self.sizes["search"]
        for key, name in (
            ("small", "candidates_batched_small_n"),
            ("large", "candidates_batched_large_n"),
        ):
            params = sizes[key]
            result = self.case("candidate_search", params)
            median = result["median_seconds"]
            inputs = "raw x" if params["width"] is None else f"He_2 features ({params['width']})"
            self.add(
                name,
                median["hierlearn"],
                "s",
                f"the 12 candidates one by one (d={params['d']}, n={params['n']}, {inputs}): "
                f"{median['one_by_one']:.2f} s",
                median["one_by_one"],
                median["one_by_one"] / median["hierlearn"],
                peak=result["peak_memory_mib"]["hierlearn"],
                baseline_peak=result["peak_memory_mib"]["one_by_one"],
                repeats=params["repeats"],
                details={
                    "seconds": result["seconds"],
                    "epochs_run": result["epochs_run"],
                    "largest_relative_difference_of_validation_errors": result[
                        "largest_relative_difference_of_validation_errors"
                    ],
                },
            )
        params = sizes["convex"]
        result = self.case("convex_path", params)
        median = result["median_seconds"]
        self.add(
            "convex_path_admm_vs_proximal",
            median["hierlearn"],
            "s",
            f"proximal solver, same path (d={params['d']}, n={params['n']}, "
            f"at most {params['max_iter']} iterations a value): {median['proximal']:.2f} s",
            median["proximal"],
            median["proximal"] / median["hierlearn"],
            peak=result["peak_memory_mib"]["hierlearn"],
            baseline_peak=result["peak_memory_mib"]["proximal"],
            repeats=params["repeats"],
            details={
                "seconds": result["seconds"],
                "objective": result["objective"],
                "gap": result["gap"],
                "converged": result["converged"],
            },
        )

    def convex(self) -> None:
        params = self.sizes["convex"]["step"]
        result = self.case("convex_step", params)
        median = result["median_seconds"]
        shapes = f"n={params['n']}, D'={params['width']}, float64"
        for name, ours, bound, flops, label, target in (
            ("convex_step_vs_matmul_peak", "hierlearn", "matmul", "flops", "proximal step", 0.7),
            (
                "convex_factored_step_vs_matmul_peak",
                "factored",
                "matmul_factored",
                "factored_flops",
                f"factored objective and gradient, rank {params['rank']}",
                None,
            ),
        ):
            gflops, fraction = result[flops] / 1e9, median[bound] / median[ours]
            self.add(
                name,
                gflops / median[ours],
                "GFLOP/s",
                f"torch.matmul of the {label}'s two products ({shapes}): "
                f"{gflops / median[bound]:.1f} GFLOP/s",
                gflops / median[bound],
                fraction,
                target=target,
                target_met=None if target is None else fraction >= target,
                repeats=params["repeats"],
                details={"seconds": {k: result["seconds"][k] for k in (ours, bound)}},
            )
        params = self.sizes["convex"]["large"]
        result = self.case("convex_large", params)
        seconds = result["median_seconds"]["hierlearn"]
        self.add(
            "convex_large_path_seconds",
            seconds,
            "s",
            f"the target, 60 s (d={params['d']}, D'={2 * params['d'] ** 2 + 1}, "
            f"n={params['n']}, {params['n_reg']} penalties, gap {params['tol']})",
            60.0,
            60.0 / seconds,
            target=1.0,
            target_met=seconds <= 60.0,
            peak=result["peak_memory_mib"]["hierlearn"],
            details={
                key: result[key]
                for key in ("solver", "reg", "n_iter", "gap", "converged", "validation_errors")
            },
        )

    def _spec_file(self, spec: str, overrides: dict | None) -> str:
        path = ROOT / spec
        if not overrides:
            return str(path)
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        overrides = dict(overrides)
        keep = overrides.pop("learners", None)
        if keep is not None:
            data["learners"] = {name: data["learners"][name] for name in keep}
        data.update(overrides)
        target = self.folder / path.name
        target.write_text(yaml.safe_dump(data), encoding="utf-8")
        return str(target)


BENCHMARKS = {
    "quad": ("quad_step_vs_matmul_peak", "quad_step_vs_autograd_taylor", "quad_step_peak_memory"),
    "ntk": ("ntk_kernel_vs_reference", "ntk_kernel_peak_memory"),
    "krr": ("krr_solve_vs_cholesky_peak", "krr_solve_peak_memory"),
    "ridge_path": ("krr_ridge_path_vs_cholesky_per_ridge",),
    "krr_iterative": ("krr_iterative_seconds", "krr_iterative_peak_memory"),
    "sweep": (
        "sweep_throughput",
        "sweep_throughput_next_pool",
        "sweep_throughput_warm_pool",
        "adaptive_nstar_fits_vs_grid",
    ),
    "search": (
        "candidates_batched_small_n",
        "candidates_batched_large_n",
        "convex_path_admm_vs_proximal",
    ),
    "convex": (
        "convex_step_vs_matmul_peak",
        "convex_factored_step_vs_matmul_peak",
        "convex_large_path_seconds",
    ),
}


def _merge(results: list[dict], name: str) -> dict:
    """One result from several rounds of the same process: all repetitions, the largest peak,
    and the first round's other fields (the matrix comparison)."""
    merged = dict(results[0])
    for key in ("seconds", "cpu_seconds"):
        merged[key] = {name: [value for result in results for value in result[key][name]]}
    merged["median_seconds"] = {name: _median(merged["seconds"][name])}
    merged["peak_memory_mib"] = {name: max(result["peak_memory_mib"][name] for result in results)}
    return merged


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    import hierlearn
    from hierlearn.experiments.run.runner import git_revision

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory = None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1) if memory else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "hierlearn": hierlearn.__version__,
        "git_revision": git_revision(),
        "platform": platform.platform(),
    }


def _format(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def table(entries: list[dict]) -> str:
    """The entries as a Markdown table."""
    header = (
        "| benchmark | value | unit | baseline | ratio | target | met | peak MiB "
        "(ours / baseline) |"
    )
    lines = [header, "|" + "---|" * 8]
    for entry in entries:
        if entry["value"] is None:
            lines.append(
                f"| {entry['name']} | failed: {entry['details'].get('error', '')[:60]}"
                " | | | | | | |"
            )
            continue
        peaks = (
            f"{_format(entry['peak_memory_mib'])} / {_format(entry['baseline_peak_memory_mib'])}"
        )
        lines.append(
            f"| {entry['name']} | {_format(entry['value'])} | {entry['unit']} | "
            f"{entry['baseline']} | {_format(entry['ratio'])} | {entry['target'] or ''} | "
            f"{_format(entry['target_met']) if entry['target'] else ''} | {peaks} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a few minutes")
    size.add_argument(
        "--smoke", action="store_true", help="tiny sizes, seconds: checks the machinery only"
    )
    parser.add_argument("--json", type=Path, help="write the entries to this JSON file")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks"
    )
    parser.add_argument(
        "--reference-python",
        type=Path,
        default=DEFAULT_REFERENCE_ENV / "bin" / "python",
        help="Python of the neural-tangents environment "
        "(default: benchmarks/.reference-env/bin/python)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="confine every benchmark process to this many cores and threads "
        "(torch, MKL, XLA), except the sweeps, whose workers share out the "
        "cores themselves; default: all cores, the libraries' own choice",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds allowed for each benchmark process"
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where hierlearn computes (default cpu); the neural-tangents reference stays on "
        "the CPU of its environment",
    )
    args = parser.parse_args(argv)
    preset = "smoke" if args.smoke else "quick" if args.quick else "full"
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA device is available to torch here")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hierlearn-bench-") as folder:
        suite = Suite(
            preset,
            args.reference_python,
            Path(folder),
            args.timeout,
            args.threads,
            log,
            device=args.device,
        )
        for name in args.only or list(BENCHMARKS):
            log(f"{name} ...")
            try:
                getattr(suite, name)()
            except Exception as error:  # record the failure and go on with the others
                log(f"  {name} failed: {error}")
                if not isinstance(error, (CaseError, subprocess.TimeoutExpired)):
                    log(traceback.format_exc())
                suite.fail(list(BENCHMARKS[name]), error)
    seconds = time.perf_counter() - started
    report = {
        "preset": preset,
        "machine": machine(),
        "device": args.device,
        "threads": args.threads,
        "seconds": seconds,
        "load_average": suite.loads,
        "entries": suite.entries,
    }
    print(table(suite.entries))
    where = report["machine"]["gpu"] if args.device == "cuda" else report["machine"]["cpu"]
    print(f"\npreset {preset}: {seconds:.0f} s on {where}, {report['machine']['cores']} cores")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 1 if any(entry["value"] is None for entry in suite.entries) else 0


if __name__ == "__main__":
    sys.exit(main())
