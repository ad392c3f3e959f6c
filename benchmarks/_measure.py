"""Timing and peak-memory helpers shared by the benchmark cases.

Standard library only, so that the reference environment (neural-tangents on JAX, without
hierlearn or torch) imports it too.

Peak memory comes from the operating system's accounting of the process that runs a case:

* ``VmHWM`` of ``/proc/self/status`` (the resident-set high-water mark, Linux). Writing "5" to
  ``/proc/self/clear_refs`` resets it to the current resident set (Linux >= 4.0), so one
  process can attribute a peak to each implementation it runs: the peak *while running* an
  implementation, counting everything resident at that moment (interpreter, libraries,
  inputs) plus what the implementation allocates.
* Elsewhere, or when the reset is refused, ``getrusage(RUSAGE_SELF).ru_maxrss``: the peak of
  the whole process, reported with scope "process".
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable

MIB = 2**20


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def process_peak_mib() -> float:
    """Peak resident memory of this process so far (since the last reset), MiB."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib / 1024
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


def children_peak_mib() -> float:
    """Largest peak resident memory of any finished, waited-for child process, MiB."""
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


def reset_peak() -> bool:
    """Reset this process's VmHWM to its current resident set; False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


class Recorder:
    """Times implementations and keeps, per implementation, every duration and its peak memory.

    ``run(name, call, setup)`` runs ``setup()`` untimed, resets the peak, then times
    ``call(*setup())`` with ``time.perf_counter`` (wall) and ``time.process_time`` (CPU time
    of all the process's threads, less sensitive to other processes on a busy machine); the
    peak resident memory seen during the call is kept (the maximum over calls).
    """

    def __init__(self, device: str = "cpu"):
        self.seconds: dict[str, list[float]] = {}
        self.cpu_seconds: dict[str, list[float]] = {}  # process CPU time, all threads
        self.peak_mib: dict[str, float] = {}
        self.gpu_peak_mib: dict[str, float] = {}
        self.scope = "phase" if reset_peak() else "process"
        self.cuda = None  # torch.cuda when timing a GPU (the reference environment has no torch)
        if str(device).startswith("cuda"):
            import torch

            self.cuda = torch.cuda

    def run(self, name: str, call: Callable, setup: Callable | None = None, record: bool = True):
        arguments = setup() if setup is not None else ()
        reset_peak()
        if (
            self.cuda is not None
        ):  # the GPU's queue is empty and its peak reset before the clock starts
            self.cuda.synchronize()
            self.cuda.reset_peak_memory_stats()
        start, start_cpu = time.perf_counter(), time.process_time()
        value = call(*arguments)
        if self.cuda is not None:  # CUDA calls return before the work is done
            self.cuda.synchronize()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        peak = process_peak_mib()
        if record:
            self.seconds.setdefault(name, []).append(elapsed)
            self.cpu_seconds.setdefault(name, []).append(cpu)
        self.peak_mib[name] = max(self.peak_mib.get(name, 0.0), peak)
        if self.cuda is not None:
            gpu = self.cuda.max_memory_allocated() / 2**20
            self.gpu_peak_mib[name] = max(self.gpu_peak_mib.get(name, 0.0), gpu)
        return value

    def interleave(self, calls: dict[str, tuple], repeats: dict[str, int], warmup: int = 1):
        """Run every implementation ``warmup`` times untimed, then alternate them.

        Args:
            calls: name -> (call, setup or None).
            repeats: name -> timed repetitions; rounds alternate the order (A B, B A, ...)
                so that a slow drift of the machine's load hits every implementation alike.
            warmup: untimed runs of each implementation first.
        """
        for name, (call, setup) in calls.items():
            for _ in range(warmup):
                self.run(name, call, setup, record=False)
        names = list(calls)
        for round_ in range(max(repeats.values())):
            order = names if round_ % 2 == 0 else names[::-1]
            for name in order:
                if round_ < repeats[name]:
                    call, setup = calls[name]
                    self.run(name, call, setup)

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])

    def summary(self) -> dict:
        return {
            "seconds": self.seconds,
            "median_seconds": {name: self.median(name) for name in self.seconds},
            "cpu_seconds": self.cpu_seconds,
            "peak_memory_mib": self.peak_mib,
            "gpu_peak_memory_mib": self.gpu_peak_mib,
            "peak_scope": self.scope,
        }


def load_average() -> float | None:
    """The one-minute load average (how busy the machine was), None where unknown."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def write_result(path: str, result: dict) -> None:
    """Write a case's result (a JSON object) for the driver to read."""
    result = dict(result)
    result.setdefault("children_peak_memory_mib", children_peak_mib())
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
