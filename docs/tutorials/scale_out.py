# %% [markdown]
# # Scale out: a Dask cluster, a SLURM cluster, a GPU
#
# A sweep is a set of independent cells; the driver (the process that runs
# `hierlearn run`) hands them to an executor and commits each finished cell to the store. The
# executor can be this process, a pool of local worker processes, or a Dask cluster, and a
# cell can run on a GPU. Whatever runs the cells, **the store is the record**: a sweep stopped
# at any moment (Ctrl-C, a killed job, a lost worker) resumes by running the same command
# again, and only the missing cells run.
#
# This tutorial runs one small spec on a local Dask cluster (executed when the documentation
# is built), then shows the same spec on a SLURM cluster and on a GPU (shown, not executed:
# they need the hardware).

# %%
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from distributed import Client, LocalCluster

from hierlearn.experiments.run.store import Store, StoreError
from hierlearn.experiments.spec import parse_spec_text
from hierlearn.experiments.workflow import ExecutorOptions, run_into_store

workdir = Path(tempfile.mkdtemp(prefix="hierlearn-scale-"))
spec_text = """
name: scale-out
description: A degree-2 target, kernel ridge and the NTK model, small sizes.
inputs: gaussian
target: {degrees: 2}
dimensions: [4, 8]
samples: [32, 64, 128, 256]
seeds: 3
test_size: 2000
design_size: 2000
learners:
  kernel_x:
    model:
      kind: kernel
      params: {kernel: ntk, activation: relu, input_bias: 1.0}
      search: {ridge: [1.0e-4, 1.0e-2]}
  ntk_x:
    model:
      kind: ntk
      params: {width: 128, input_bias: 1.0}
      search: {ridge: [1.0e-4, 1.0e-2]}
"""
spec = parse_spec_text(spec_text, source="scale-out.yaml")
store = workdir / "scale-out.sqlite"

# %% [markdown]
# ## A run stopped half-way
#
# First the sweep runs on the command line with one local worker, and is stopped with
# SIGTERM (what `kill` and batch schedulers send; Ctrl-C's SIGINT stops it the same way, in a
# terminal) once a dozen cells are stored. The finished cells stay in the store:

# %%
spec_path = workdir / "scale-out.yaml"
spec_path.write_text(spec_text)
command = [sys.executable, "-m", "hierlearn", "run", str(spec_path), "--store", str(store)]
log = (workdir / "run.log").open("w")  # what the run prints, shown below
process = subprocess.Popen(
    [*command, "--workers", "1", "--quiet"], stdout=log, stderr=subprocess.STDOUT
)


def stored_cells() -> int:
    try:
        with Store(store) as opened:
            return len(opened.statuses())
    except StoreError:  # not there yet, or the runner is still creating it
        return 0


while stored_cells() < 12 and process.poll() is None:
    time.sleep(0.2)
process.send_signal(signal.SIGTERM)
process.wait()
log.close()
print((workdir / "run.log").read_text().strip())
print(f"interrupted (exit code {process.returncode}) with {stored_cells()} cells stored")

# %% [markdown]
# ## The rest on a Dask cluster
#
# On the command line, `--cluster local:N` starts a Dask `LocalCluster` of N worker
# processes for the run, and `--scheduler tcp://host:8786` connects to a running one:
#
# ```bash
# hierlearn run spec.yaml --store results.sqlite --cluster local:2
# hierlearn run spec.yaml --store results.sqlite --scheduler tcp://scheduler-host:8786
# ```
#
# From Python the same choice is an `ExecutorOptions`. Here a cluster is started separately
# and the run connects to its scheduler, as it would to a cluster on other machines. The
# cells already stored are skipped; only the missing ones run:

# %%
cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
client = Client(cluster)
start = time.monotonic()
summary = run_into_store(
    spec,
    spec_text,
    store,
    ExecutorOptions(scheduler=cluster.scheduler_address, threads=1),
    progress=False,
)
seconds = time.monotonic() - start
print(f"ran {summary.ran} cells on {len(client.nthreads())} Dask workers in {seconds:.1f} s")
print(f"{summary.skipped} were already stored; the store now holds {stored_cells()} cells")
client.close()
cluster.close()

# %% [markdown]
# A worker lost mid-sweep (a pre-empted node) is survived: Dask reschedules its cell on
# another worker, and the driver stores the result once. If the driver itself stops, the
# cells that were running are lost and run again on the next start; finished ones never are.
#
# ## A SLURM cluster with dask-jobqueue
#
# On a SLURM cluster, start the scheduler and its workers as batch jobs with
# [dask-jobqueue](https://jobqueue.dask.org) (not a hierlearn dependency:
# `pip install dask-jobqueue`), then point the run at the scheduler. A driver script,
# run on the login node (or in a small job of its own):
#
# ```python
# from dask_jobqueue import SLURMCluster
# from hierlearn.experiments.spec import load_spec
# from hierlearn.experiments.workflow import ExecutorOptions, run_into_store
#
# cluster = SLURMCluster(
#     queue="compute",            # your partition
#     cores=4,                    # one job = one Dask worker with 4 cores
#     processes=1,
#     memory="16GB",
#     walltime="04:00:00",
#     job_extra_directives=["--cpus-per-task=4"],
# )
# cluster.scale(jobs=16)          # 16 jobs, 16 workers
# spec, text = load_spec("paper-p4.yaml")
# run_into_store(
#     spec, text, "p4.sqlite",
#     ExecutorOptions(scheduler=cluster.scheduler_address, threads=4),  # 4 threads per cell
# )
# ```
#
# The store is a SQLite file written only by the driver, so it lives on the driver's disk (a
# local disk, not a network file system, where SQLite's locking is unreliable); workers need
# the hierlearn package and nothing else. When the allocation ends, run the script again: the
# finished cells are in the store.
#
# ## A GPU
#
# Give `--device cuda` to `hierlearn run` or `hierlearn reproduce` (or set `device: cuda` in
# the spec). Every estimator then computes on the GPU, kernels included (float64 by default:
# the NTK's arc-cosine is steep near correlation 1; `dtype: float32` in a model's `params`
# trades accuracy for speed), and the local pool has one worker per visible GPU. The device is
# part of every cell's key, so GPU cells never resume CPU ones. `cuda` on a machine without
# one is refused (exit code 2) before the store is touched:
#
# ```bash
# hierlearn run paper-p4.yaml --store p4.sqlite --device cuda
# hierlearn reproduce --full --device cuda --out full/
# ```
#
# On a cluster of GPU nodes, give each Dask worker one GPU (`CUDA_VISIBLE_DEVICES` per worker,
# or dask-cuda's `LocalCUDACluster`) and connect with `--scheduler` as above.
