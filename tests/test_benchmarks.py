"""The benchmark suite's machinery at tiny sizes: processes, JSON schema, table. No timings
are checked (benchmarks measure; tests do not time)."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
FIELDS = {
    "name",
    "value",
    "unit",
    "baseline",
    "ratio",
    "baseline_value",
    "target",
    "target_met",
    "peak_memory_mib",
    "baseline_peak_memory_mib",
    "repeats",
    "details",
}


def load_run_module():
    spec = importlib.util.spec_from_file_location("benchmarks_run", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_smoke(tmp_path, *only):
    out = tmp_path / "bench.json"
    command = [sys.executable, str(RUN), "--smoke", "--json", str(out)]
    if only:
        command += ["--only", *only]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(out.read_text()), completed.stdout


def check_entries(report, names):
    assert report["preset"] == "smoke"
    assert {"cpu", "cores", "torch"} <= set(report["machine"])
    assert [entry["name"] for entry in report["entries"]] == list(names)
    for entry in report["entries"]:
        assert set(entry) == FIELDS, entry["name"]
        assert isinstance(entry["value"], (int, float)) and math.isfinite(entry["value"])
        assert isinstance(entry["unit"], str) and entry["unit"]
        assert isinstance(entry["baseline"], str) and entry["baseline"]
        assert isinstance(entry["ratio"], (int, float)) and entry["ratio"] > 0
        assert entry["target_met"] in (True, False, None)


def test_smoke_ntk_entries_follow_the_schema(tmp_path):
    report, stdout = run_smoke(tmp_path, "ntk")
    run = load_run_module()
    check_entries(report, run.BENCHMARKS["ntk"])
    kernel = report["entries"][0]
    assert "NumPy" in kernel["baseline"]  # the smoke preset uses the fallback reference
    assert kernel["details"]["values_match"] is True
    assert kernel["target_met"] is None  # the target is defined against neural-tangents
    assert kernel["peak_memory_mib"] > 0 and kernel["baseline_peak_memory_mib"] > 0
    assert "| ntk_kernel_vs_reference |" in stdout


def test_table_shows_failures_and_values():
    run = load_run_module()
    entries = [
        {
            "name": "ok",
            "value": 12.5,
            "unit": "s",
            "baseline": "b: 25 s",
            "ratio": 2.0,
            "baseline_value": 25.0,
            "target": ">= 2",
            "target_met": True,
            "peak_memory_mib": 100.0,
            "baseline_peak_memory_mib": None,
            "repeats": 3,
            "details": {},
        },
        {
            "name": "broken",
            "value": None,
            "unit": None,
            "baseline": None,
            "ratio": None,
            "baseline_value": None,
            "target": None,
            "target_met": None,
            "peak_memory_mib": None,
            "baseline_peak_memory_mib": None,
            "repeats": None,
            "details": {"error": "boom"},
        },
    ]
    lines = run.table(entries).splitlines()
    assert lines[2].startswith("| ok | 12.5 | s | b: 25 s | 2 | >= 2 | yes | 100 / - |")
    assert "failed: boom" in lines[3]


def test_presets_cover_every_benchmark():
    run = load_run_module()
    for sizes in run.PRESETS.values():
        assert set(sizes) == set(run.BENCHMARKS) | {"adaptive"}


@pytest.mark.slow
def test_smoke_suite_runs_every_case(tmp_path):
    report, _ = run_smoke(tmp_path)
    run = load_run_module()
    check_entries(report, [name for names in run.BENCHMARKS.values() for name in names])


def test_device_cuda_is_refused_without_a_gpu_and_runs_with_one(tmp_path):
    """``--device cuda`` runs every case on the GPU; without one it is a usage error that
    names the option (exit 2)."""
    import torch

    if not torch.cuda.is_available():
        completed = subprocess.run(
            [sys.executable, str(RUN), "--smoke", "--device", "cuda"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 2
        assert "--device cuda" in completed.stderr
        return
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--device", "cuda", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["device"] == "cuda" and report["machine"]["gpu"]
    run = load_run_module()
    check_entries(report, [name for names in run.BENCHMARKS.values() for name in names])
