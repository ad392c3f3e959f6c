"""Where cells run: in the driver, in a local pool of processes, or on a Dask cluster.

Every executor takes resolved cell configs (`submit`) and hands back finished result
rows (`poll`); rows always return to the driver, which alone writes the store.

Time limits. A cell whose config has ``time_limit`` runs under `time_limit`: in a
process's main thread a ``SIGALRM`` timer, elsewhere (Dask worker threads) a timer thread that
raises `CellTimeout` asynchronously in the cell's thread.
Both interrupt Python code only, between bytecodes; a long call into torch finishes first.
As a backstop the local pool kills a worker process still busy ``grace`` seconds after its
limit (and starts a fresh one), and the Dask executor gives up on such a future (the worker
thread may go on computing until its current call returns).

Threads. Each local worker runs ``threads`` torch threads, default ``cores // workers`` (at
least 1), so workers x threads <= cores. In a Dask worker the default is the worker's cores
divided by its number of task threads. Several runners on one host share its cores: the
driver calls `share_cores` with the cells all its host's runners run at once (read from
the store) and, unless ``threads`` was given, each cell then gets ``cores // that`` threads.
``local_slots`` is the number of cells an executor runs on the driver's host at once (0 for a
remote Dask cluster, whose workers pick their own threads).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections import deque
from typing import Protocol

from .cells import CellTimeout, run_cell, timeout_message, unfinished_row


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads(workers: int, cores: int | None = None) -> int:
    """Torch threads per worker so that workers x threads <= cores (at least 1)."""
    return max(1, (cores or cpu_count()) // max(1, workers))


def grace_seconds(limit: float) -> float:
    """How long past its limit a cell may run before the executor abandons it."""
    return 10.0 + 0.5 * limit


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise `CellTimeout` in the current thread once ``seconds`` have passed."""
    if not seconds:
        yield
        return
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):

        def alarm(signum, frame):
            raise CellTimeout

        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    thread_id = threading.get_ident()
    lock, state = threading.Lock(), {"done": False, "fired": False}

    def fire():
        with lock:
            if not state["done"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(thread_id), ctypes.py_object(CellTimeout)
                )

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            state["done"] = True
            if state["fired"]:
                # Clear a pending exception that has not been raised yet; report it directly.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
        timer.cancel()
    if state["fired"]:
        raise CellTimeout


def _set_threads(threads: int | None) -> None:
    import torch

    if threads is None:
        try:
            from distributed import get_worker

            worker = get_worker()
            threads = max(1, cpu_count() // max(1, worker.state.nthreads))
        except (ImportError, ValueError, AttributeError):
            return
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def execute_cell(config: dict, threads: int | None = None) -> dict:
    """Run a cell under its time limit with ``threads`` torch threads; returns its row."""
    _set_threads(threads)
    start = time.perf_counter()
    try:
        with time_limit(config.get("time_limit")):
            return run_cell(config)
    except CellTimeout:
        return unfinished_row(
            config, "timeout", timeout_message(config), time.perf_counter() - start
        )


class Executor(Protocol):
    """What the driver asks of an executor (`InlineExecutor`, `LocalPoolExecutor`,
    `DaskExecutor`)."""

    capacity: int  # cells running at once
    max_in_flight: int  # cells the driver hands over before results come back
    local_slots: int  # cells it runs on the driver's host at once (0: none)

    def share_cores(self, host_slots: int, cores: int | None = None) -> None:
        """Cells run at once on this host by every runner -> threads of each cell."""

    def submit(self, config: dict) -> None:
        """Start (or queue) one cell."""

    def poll(self, timeout: float) -> list[dict]:
        """The result rows finished since the last poll, waiting up to ``timeout`` seconds."""

    def close(self) -> None:
        """Stop the workers this executor started."""


class _CoreShare:
    """``threads`` if given, else the share of the host's cores set by `share_cores`."""

    threads: int | None
    default_threads: int | None = None

    def share_cores(self, host_slots: int, cores: int | None = None) -> None:
        """Cells run at once on this host by every runner (this one included) -> threads."""
        self.default_threads = max(1, (cores or cpu_count()) // max(1, host_slots))

    @property
    def cell_threads(self) -> int | None:
        """Torch threads each cell runs with (None: the Dask worker decides)."""
        return self.threads or self.default_threads


class InlineExecutor(_CoreShare):
    """Runs each cell in the driver's own thread when polled (``--workers 0``; debugging)."""

    def __init__(self, threads: int | None = None):
        self.threads = threads
        self.capacity = 1  # cells running at once
        self.max_in_flight = 1  # cells the driver hands over before results come back
        self.local_slots = 1
        self._queue: deque = deque()

    @property
    def running(self) -> int:
        return len(self._queue)

    def submit(self, config: dict) -> None:
        self._queue.append(config)

    def poll(self, timeout: float) -> list[dict]:
        if not self._queue:
            time.sleep(min(timeout, 0.01))
            return []
        import torch

        threads = torch.get_num_threads()  # the caller's setting, restored after the cell
        try:
            return [execute_cell(self._queue.popleft(), self.cell_threads)]
        finally:
            torch.set_num_threads(threads)

    def close(self) -> None:
        self._queue.clear()


def _die_with_parent() -> None:
    # Linux: the kernel sends SIGKILL to this worker when the driver dies, even by SIGKILL.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def _worker_main(connection, threads: int) -> None:
    _die_with_parent()
    # Ctrl-C and SIGTERM (also sent to the whole process group) are the driver's to handle:
    # it stops the sweep and then its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _set_threads(threads)
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        config, threads = message
        row = execute_cell(config, threads)
        try:
            connection.send(row)
        except (BrokenPipeError, OSError):
            return


class _Worker:
    def __init__(self, context, threads: int):
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, threads), daemon=True, name="hierlearn-worker"
        )
        self.process.start()
        child.close()
        self.task: tuple[dict, float] | None = None  # (config, start time)

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            with contextlib.suppress(OSError):
                self.connection.send(None)
        self.process.join(timeout=None if kill else 5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def pool_context():
    """The multiprocessing context of local pools: "forkserver" where the platform has it
    (Linux, macOS), with hierlearn's cell code preloaded, else "spawn".

    The fork server is a fresh interpreter that imports the cell code (torch, scikit-learn,
    hierlearn: about 2 CPU-seconds) once, then forks every worker from that state. A pool of
    W workers costs one import instead of W; a replacement worker (after a crash or a kill)
    and any later pool of the same driver process start in milliseconds. The server runs no
    torch operation before forking, so the workers' OpenMP thread pools start fresh (forking
    a process whose OpenMP pool has run deadlocks the child; hence never "fork" from the
    driver).
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Takes effect when the server starts (once per driver process).
    context.set_forkserver_preload(["__main__", __name__])
    return context


class LocalPoolExecutor(_CoreShare):
    """A pool of ``workers`` processes, each running one cell at a time.

    A worker that dies (crash, out of memory) yields a "failed" row for its cell and is
    replaced; so is one still busy ``grace_seconds`` past the cell's time limit ("timeout").
    Workers are forked from a fork server that has imported the cell code (see
    `pool_context`; "spawn" where there is none). As with "spawn", the main module is
    imported in a fresh process, so a script that creates this pool must guard its entry
    point with ``if __name__ == "__main__":`` (see the multiprocessing documentation).
    """

    def __init__(self, workers: int, threads: int | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.threads = threads
        self.default_threads = default_threads(workers)
        self.capacity = workers  # cells running at once
        self.max_in_flight = workers  # cells the driver hands over before results come back
        self.local_slots = workers
        self._context = pool_context()
        self._queue: deque = deque()
        self._workers = [_Worker(self._context, self.cell_threads) for _ in range(workers)]

    @property
    def running(self) -> int:
        return sum(w.task is not None for w in self._workers) + len(self._queue)

    def submit(self, config: dict) -> None:
        self._queue.append(config)
        self._dispatch()

    def _dispatch(self) -> None:
        for worker in self._workers:
            if worker.task is None and self._queue:
                config = self._queue.popleft()
                worker.connection.send((config, self.cell_threads))
                worker.task = (config, time.monotonic())

    def _replace(self, index: int, kill: bool) -> None:
        self._workers[index].stop(kill=kill)
        self._workers[index] = _Worker(self._context, self.cell_threads)

    def poll(self, timeout: float) -> list[dict]:
        self._dispatch()
        busy = [w for w in self._workers if w.task is not None]
        if busy:
            waitables = [w.connection for w in busy] + [w.process.sentinel for w in busy]
            multiprocessing.connection.wait(waitables, timeout)
        rows = []
        now = time.monotonic()
        for index, worker in enumerate(self._workers):
            if worker.task is None:
                continue
            config, started = worker.task
            if worker.connection.poll():
                try:
                    rows.append(worker.connection.recv())
                    worker.task = None
                    continue
                except (EOFError, OSError):
                    pass
            limit = config.get("time_limit")
            if not worker.process.is_alive():
                error = f"worker process died (exit code {worker.process.exitcode})"
                rows.append(unfinished_row(config, "failed", error, now - started))
                self._replace(index, kill=True)
            elif limit and now - started > limit + grace_seconds(limit):
                error = timeout_message(config) + "; the worker was killed"
                rows.append(unfinished_row(config, "timeout", error, now - started))
                self._replace(index, kill=True)
        self._dispatch()
        return rows

    def close(self) -> None:
        self._queue.clear()
        for worker in self._workers:
            worker.stop(kill=worker.task is not None)


class DaskExecutor(_CoreShare):
    """Runs cells as tasks on a Dask distributed cluster.

    Args:
        client: a ``distributed.Client``.
        threads: torch threads per task; None: the worker's cores / its task threads, or on a
            ``local`` cluster the driver's share of this host's cores.
        owned: objects closed with the executor (e.g. a ``LocalCluster`` and its client).
        local: the cluster's workers run on the driver's host (a ``LocalCluster``).
    """

    def __init__(self, client, threads: int | None = None, owned: tuple = (), local=False):
        self.client, self.threads, self._owned = client, threads, owned
        workers = client.scheduler_info().get("workers", {})
        slots = sum(info.get("nthreads", 1) for info in workers.values())
        self.capacity = max(1, slots)  # cells running at once
        self.local_slots = self.capacity if local else 0
        if local:
            self.default_threads = default_threads(self.capacity)
        # Keep the scheduler's queue one batch ahead so that no worker waits for the driver.
        self.max_in_flight = 2 * self.capacity
        self._futures: dict = {}  # future -> (config, submitted at)

    @property
    def running(self) -> int:
        return len(self._futures)

    def submit(self, config: dict) -> None:
        from .cells import cell_key

        future = self.client.submit(
            execute_cell,
            config,
            self.cell_threads,
            key=f"hierlearn-cell-{cell_key(config)}",
            pure=False,
        )
        self._futures[future] = (config, time.monotonic())

    def poll(self, timeout: float) -> list[dict]:
        import distributed

        if not self._futures:
            time.sleep(min(timeout, 0.01))
            return []
        with contextlib.suppress(distributed.TimeoutError, TimeoutError):
            distributed.wait(list(self._futures), timeout=timeout, return_when="FIRST_COMPLETED")
        rows, now = [], time.monotonic()
        for future, (config, submitted) in list(self._futures.items()):
            limit = config.get("time_limit")
            if future.done():
                del self._futures[future]
                try:
                    rows.append(future.result())
                except Exception as error:  # the task failed outside run_cell (lost worker)
                    text = f"Dask task failed: {type(error).__name__}: {error}"
                    rows.append(unfinished_row(config, "failed", text, now - submitted))
            elif limit and now - submitted > 2 * (limit + grace_seconds(limit)):
                # Counted from submission, so twice the local allowance covers queueing.
                del self._futures[future]
                future.cancel()
                error = timeout_message(config) + "; the Dask task was abandoned"
                rows.append(unfinished_row(config, "timeout", error, now - submitted))
        return rows

    def close(self) -> None:
        for future in self._futures:
            future.cancel()
        self._futures.clear()
        for owned in self._owned:
            with contextlib.suppress(Exception):
                owned.close()


def make_executor(
    workers: int | None = None,
    scheduler: str | None = None,
    cluster_workers: int | None = None,
    threads: int | None = None,
):
    """An executor from the command-line choices.

    Args:
        workers: local pool size (0: inline in the driver).
        scheduler: address of a running Dask scheduler, e.g. "tcp://host:8786".
        cluster_workers: start a Dask ``LocalCluster`` with this many worker processes.
        threads: torch threads per cell (default: see the module docstring).
    """
    if scheduler is not None or cluster_workers is not None:
        from distributed import Client, LocalCluster

        if scheduler is not None:
            client = Client(scheduler, timeout="30s")
            return DaskExecutor(client, threads, owned=(client,))
        cluster = LocalCluster(
            n_workers=cluster_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit=0,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        return DaskExecutor(client, threads, owned=(client, cluster), local=True)
    if not workers:
        return InlineExecutor(threads)
    return LocalPoolExecutor(workers, threads)
