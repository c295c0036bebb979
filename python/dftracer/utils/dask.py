"""Dask integration: one :class:`~dftracer.utils.Runtime` per Dask worker.

Owns the worker plugin that gives each ``distributed`` worker its own
runtime, the lookup a Dask task uses to reach the runtime of the worker it
runs on, and a cluster-wide progress read. The runtime lives on the worker
object, never in a module global: with ``LocalCluster(processes=False)``
several workers share one process and each needs its own pool.

Importable only where ``distributed`` is installed
(``pip install "dftracer-utils[dask]"``); ``dftracer.utils`` itself never
imports it.

Example::

    from distributed import Client, LocalCluster
    from dftracer.utils.dask import DFTracerUtilsDaskWorkerPlugin, get_worker_runtime

    def double_all(xs):
        rt = get_worker_runtime()
        return [h.get() for h in [rt.submit(lambda x: 2 * x, x) for x in xs]]

    if __name__ == "__main__":
        with LocalCluster(n_workers=2, threads_per_worker=2) as cluster, Client(cluster) as client:
            client.register_plugin(DFTracerUtilsDaskWorkerPlugin())
            print(client.submit(double_all, [1, 2, 3]).result())  # [2, 4, 6]
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional

try:
    from distributed import get_worker
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "dftracer.utils.dask needs the 'distributed' package, which is not installed; "
        'install the dask extra: pip install "dftracer-utils[dask]"',
        name="distributed",
    ) from _exc

from dftracer.utils.progress_types import ProgressTotals, WorkerProgress
from dftracer.utils.runtime import Runtime

if TYPE_CHECKING:
    from distributed import Client, Worker

__all__ = [
    "DFTracerUtilsDaskWorkerPlugin",
    "RuntimeSummary",
    "cluster_progress",
    "get_worker_runtime",
    "PLUGIN_NAME",
]

logger = logging.getLogger(__name__)

#: The plugin's fixed name: a second registration under it is a no-op.
PLUGIN_NAME = "dftracer-utils-runtime"

# Attributes set on the distributed.Worker object (one runtime per worker, not
# per process): the runtime, and the plugin instance that created it (only
# that instance's teardown shuts it down).
_RUNTIME_ATTR = "_dftracer_utils_runtime"
_OWNER_ATTR = "_dftracer_utils_runtime_owner"

# Seconds a teardown waits for running tasks before it logs that it is still
# waiting (it keeps waiting: the worker must not close with live threads).
_TEARDOWN_WARN_SECONDS = 10.0


class RuntimeSummary(ProgressTotals):
    """One worker's runtime as :func:`cluster_progress` reports it: the
    sizes in use, the totals of :meth:`Runtime.get_progress` and its worker
    threads."""

    threads: int
    io_threads: int
    python_threads: int
    workers: List[WorkerProgress]


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except OSError:  # pragma: no cover - exotic kernels
            pass
    return max(1, os.cpu_count() or 1)  # pragma: no cover - non-Linux


def _worker_nthreads(worker: "Worker") -> int:
    state = getattr(worker, "state", None)
    nthreads = getattr(state, "nthreads", None) or getattr(worker, "nthreads", None)
    return int(nthreads) if nthreads else 1


class DFTracerUtilsDaskWorkerPlugin(WorkerPlugin):
    """Gives every Dask worker its own :class:`~dftracer.utils.Runtime`.

    Register it once per cluster; it applies to the workers already running
    and to every worker that joins later. Dask tasks reach their worker's
    runtime with :func:`get_worker_runtime`.

    Example::

        from distributed import Client
        from dftracer.utils.dask import DFTracerUtilsDaskWorkerPlugin

        client = Client("tcp://scheduler:8786")
        client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=48))

    Args:
        threads: compute workers of each runtime; 0 uses the Dask worker's
            own ``nthreads``, capped at the CPUs the worker process may run
            on (``os.sched_getaffinity``).
        io_threads: I/O workers of each runtime; 0 lets the runtime choose
            (as many as its compute pool).
        python_threads: the most Python callables each runtime runs at
            once; 0 means no cap beyond its compute workers.

    The plugin holds only these three integers, so it pickles to the
    scheduler and the workers unchanged. Its ``name`` is fixed and it is
    ``idempotent``: registering it again keeps the runtimes already created.
    """

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self, threads: int = 0, io_threads: int = 0, python_threads: int = 0) -> None:
        for label, value in (("threads", threads), ("io_threads", io_threads), ("python_threads", python_threads)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{label} must be an int, not {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{label} must be >= 0 (0 picks a size automatically), got {value}")
        self.threads = threads
        self.io_threads = io_threads
        self.python_threads = python_threads

    def __repr__(self) -> str:
        return (
            f"DFTracerUtilsDaskWorkerPlugin(threads={self.threads}, "
            f"io_threads={self.io_threads}, python_threads={self.python_threads})"
        )

    def resolved_threads(self, worker: "Worker") -> int:
        """The compute pool size ``setup`` gives ``worker``'s runtime."""
        if self.threads:
            return self.threads
        return min(_worker_nthreads(worker), _usable_cpus())

    def setup(self, worker: "Worker") -> None:
        """Creates ``worker``'s runtime; keeps the existing one if the worker
        already has a live runtime (another registration of this plugin
        under a different name)."""
        existing: Optional[Runtime] = getattr(worker, _RUNTIME_ATTR, None)
        if existing is not None and not existing._native.is_shut_down:
            logger.warning(
                "dask worker %s already has a dftracer.utils runtime (%r); keeping it",
                worker.address,
                existing,
            )
            return
        runtime = Runtime(
            threads=self.resolved_threads(worker),
            io_threads=self.io_threads,
            python_threads=self.python_threads,
        )
        setattr(worker, _RUNTIME_ATTR, runtime)
        setattr(worker, _OWNER_ATTR, self)
        logger.info("dftracer.utils runtime for dask worker %s: %r", worker.address, runtime)

    async def teardown(self, worker: "Worker") -> None:
        """Shuts ``worker``'s runtime down without blocking its event loop.

        Like Dask's own executor at close, tasks that have not started are
        cancelled and running ones finish. The blocking shutdown runs on a
        short-lived thread; this coroutine returns once that thread has
        joined every runtime thread, so the worker never closes with live
        runtime threads.
        """
        runtime: Optional[Runtime] = getattr(worker, _RUNTIME_ATTR, None)
        if runtime is None or getattr(worker, _OWNER_ATTR, None) is not self:
            return
        # Unpublish first: tasks still running on the worker get a clear error
        # from get_worker_runtime() instead of a runtime that is going away.
        setattr(worker, _RUNTIME_ATTR, None)
        setattr(worker, _OWNER_ATTR, None)
        await _shutdown_off_loop(runtime, str(worker.address))
        logger.info("dftracer.utils runtime for dask worker %s shut down", worker.address)


async def _shutdown_off_loop(runtime: Runtime, address: str) -> None:
    """Runs ``runtime.shutdown(wait=False)`` on its own thread and awaits it.

    A dedicated thread rather than the loop's default executor: that pool's
    threads would outlive the teardown (and, with ``processes=False``, the
    test that closed the cluster)."""
    loop = asyncio.get_running_loop()
    done: "asyncio.Future[None]" = loop.create_future()

    def settle(error: Optional[BaseException]) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def shut_down() -> None:
        error: Optional[BaseException] = None
        try:
            runtime.shutdown(wait=False)
        except BaseException as exc:  # reported on the loop, never lost
            error = exc
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:  # pragma: no cover - the loop closed under us
            pass

    thread = threading.Thread(target=shut_down, name=f"dftracer-utils-dask-teardown {address}", daemon=True)
    thread.start()
    try:
        await asyncio.wait_for(asyncio.shield(done), _TEARDOWN_WARN_SECONDS)
    except asyncio.TimeoutError:
        logger.warning(
            "dftracer.utils runtime for dask worker %s: still waiting for running tasks "
            "after %.0f s of teardown",
            address,
            _TEARDOWN_WARN_SECONDS,
        )
        await done
    # The thread set the result as its last act; this join is immediate.
    thread.join()


def get_worker_runtime(worker: Optional["Worker"] = None) -> Runtime:
    """The runtime of the Dask worker the calling task runs on.

    Call it inside a Dask task (``client.submit``, ``dask.delayed``, ...).
    Pass ``worker`` explicitly where ``distributed.get_worker()`` does not
    work, e.g. in a function given to ``client.run`` (its ``dask_worker``
    argument).

    Example::

        def crunch(paths):
            rt = get_worker_runtime()
            handles = [rt.submit(parse, p) for p in paths]
            return [h.get() for h in handles]

        client.submit(crunch, ["a.pfw", "b.pfw"]).result()

    Raises:
        RuntimeError: called outside a Dask task, or on a worker that has no
            runtime (the plugin is not registered, or the worker is closing).
    """
    if worker is None:
        try:
            worker = get_worker()
        except ValueError:
            raise RuntimeError(
                "get_worker_runtime() must be called from a Dask task running on a worker "
                "(no Dask worker found in this context)"
            ) from None
    runtime: Optional[Runtime] = getattr(worker, _RUNTIME_ATTR, None)
    if runtime is None:
        raise RuntimeError(
            f"dask worker {worker.address} has no dftracer.utils runtime: register the plugin "
            "first with client.register_plugin(DFTracerUtilsDaskWorkerPlugin()) "
            "(or the worker is closing)"
        )
    return runtime


def _summarize(dask_worker: "Worker") -> Optional[RuntimeSummary]:
    """``client.run`` body: the summary of ``dask_worker``'s runtime, or
    ``None`` when it has none. ``client.run`` passes the worker by this
    argument name."""
    runtime: Optional[Runtime] = getattr(dask_worker, _RUNTIME_ATTR, None)
    if runtime is None:
        return None
    progress = runtime.get_progress(max_tasks=0)
    return RuntimeSummary(
        threads=runtime.threads,
        io_threads=runtime.io_threads,
        python_threads=runtime.python_threads,
        total=progress["total"],
        completed=progress["completed"],
        running=progress["running"],
        queued=progress["queued"],
        failed=progress["failed"],
        cancelled=progress["cancelled"],
        timed_out=progress["timed_out"],
        workers=progress["workers"],
    )


def cluster_progress(client: "Client", workers: Optional[List[str]] = None) -> Dict[str, Optional[RuntimeSummary]]:
    """Each worker's runtime summary, keyed by worker address.

    A worker without a runtime (plugin not registered, or closing) maps to
    ``None``. ``workers`` restricts the read to those addresses. With an
    asynchronous client, ``await`` the result.

    Example::

        for address, summary in cluster_progress(client).items():
            print(address, summary["completed"], "of", summary["total"])

    Returns:
        ``{address: RuntimeSummary or None}``; each summary holds the sizes
        in use, the totals of ``get_progress()`` and its ``workers`` list.
    """
    result: Any = client.run(_summarize, workers=workers)
    return result  # type: ignore[no-any-return]
