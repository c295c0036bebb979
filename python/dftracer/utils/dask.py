"""Dask integration: one :class:`~dftracer.utils.Runtime` per Dask worker.

Owns the worker plugin that gives each ``distributed`` worker its own
runtime (and makes it that worker's default runtime), the lookup a Dask task
uses to reach it, the automatically sized variant of the plugin, and
:func:`cluster_progress` (ask every worker now). The pushed, cluster-wide
progress view (:class:`ProgressAggregator`, topic ``"dft-progress"``) lives
in :mod:`dftracer.utils.dask_progress` and is re-exported here. The
runtime lives on the worker object, never in a module global: with
``LocalCluster(processes=False)`` several workers share one process and
each needs its own pool.

Importable only where ``distributed`` is installed
(``pip install "distributed>=2024.6.0"``, or this package's ``dask`` extra); ``dftracer.utils`` itself never
imports it.

Example::

    from distributed import Client, LocalCluster
    import dftracer.utils as dft
    from dftracer.utils.dask import DFTracerUtilsDaskWorkerPlugin

    def double_all(xs):
        rt = dft.get_default_runtime()      # this worker's runtime
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
from collections import Counter
from typing import TYPE_CHECKING, Any, Awaitable, Dict, List, Mapping, Optional, Tuple

try:
    from distributed import get_client, get_worker
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "dftracer.utils.dask needs the 'distributed' package, which is not installed; "
        'install it: pip install "distributed>=2024.6.0" (or this package\'s dask extra)',
        name="distributed",
    ) from _exc

from dftracer.utils import default_runtime as _defaults
from dftracer.utils.dask_progress import (
    PROGRESS_TOPIC,
    ClusterProgress,
    PhaseProgress,
    ProgressAggregator,
    WorkerRuntimeProgress,
    _describe,
    _ProgressPublisher,
    _worker_of_runtime,
    publish_progress,
)
from dftracer.utils.default_runtime import WORKER_RUNTIME_ATTR
from dftracer.utils.progress_types import ProgressTotals, WorkerProgress
from dftracer.utils.runtime import Runtime

if TYPE_CHECKING:
    from distributed import Client, Worker

__all__ = [
    "AutoThreadDaskWorkerPlugin",
    "ClusterProgress",
    "DFTracerUtilsDaskWorkerPlugin",
    "PLUGIN_NAME",
    "PROGRESS_TOPIC",
    "PhaseProgress",
    "ProgressAggregator",
    "RuntimeSummary",
    "WORKER_RUNTIME_ATTR",
    "WorkerRuntimeProgress",
    "cluster_progress",
    "get_worker_runtime",
    "publish_progress",
    "register_auto_thread_plugin",
]

logger = logging.getLogger(__name__)

#: The plugin's fixed name: a second registration under it is a no-op.
PLUGIN_NAME = "dftracer-utils-runtime"

# Attributes set on the Worker object besides WORKER_RUNTIME_ATTR: the plugin
# instance that created the runtime (only its teardown shuts it down), and
# the publisher of the runtime's progress.
_OWNER_ATTR = "_dftracer_utils_runtime_owner"
_PUBLISHER_ATTR = "_dftracer_utils_progress_publisher"

# Seconds a teardown waits for running tasks before it logs that it is still
# waiting (it keeps waiting: the worker must not close with live threads).
_TEARDOWN_WARN_SECONDS = 10.0


class RuntimeSummary(ProgressTotals):
    """One worker's runtime as :func:`cluster_progress` reports it: the
    sizes in use, the totals of :meth:`Runtime.get_progress` and its compute
    worker threads."""

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


def _worker_nthreads(worker: Any) -> Optional[int]:
    """The worker's own thread count, or None when it does not say."""
    state = getattr(worker, "state", None)
    nthreads = getattr(state, "nthreads", None) or getattr(worker, "nthreads", None)
    if isinstance(nthreads, int) and not isinstance(nthreads, bool) and nthreads > 0:
        return nthreads
    return None


def _host_of(address: str) -> str:
    """'tcp://10.0.0.5:4321' -> '10.0.0.5'; '[::1]:80' -> '[::1]'."""
    rest = address.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


def _check_size(label: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{label} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{label} must be >= 0 (0 picks a size automatically), got {value}")
    return value


class DFTracerUtilsDaskWorkerPlugin(WorkerPlugin):
    """Gives every Dask worker its own :class:`~dftracer.utils.Runtime`.

    Register it once per cluster; it applies to the workers already running
    and to every worker that joins later. In a Dask task,
    :func:`dftracer.utils.get_default_runtime` (and
    :func:`get_worker_runtime`) answer the runtime of the worker the task
    runs on, and so do the tasks that task submits to it.

    Example::

        from distributed import Client
        from dftracer.utils.dask import DFTracerUtilsDaskWorkerPlugin

        client = Client("tcp://scheduler:8786")
        client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=48))

    Args:
        threads: compute workers of each runtime; 0 uses the Dask worker's
            own ``nthreads`` capped at the CPUs the worker process may run
            on (``os.sched_getaffinity``), or those CPUs when the worker
            does not say.
        io_threads: I/O workers of each runtime; 0 lets the runtime choose
            (``DFTRACER_UTILS_IO_THREADS``, or as many as its compute pool).
        python_threads: the most Python callables each runtime runs at
            once; 0 means no cap beyond its compute workers.
        progress_interval: seconds between checks of the runtime's progress,
            published to :data:`PROGRESS_TOPIC` when it changed (see
            :class:`ProgressAggregator`); 0 publishes nothing.

    ``threads`` and the other arguments read back as attributes, as given.
    The plugin holds only these numbers, so it pickles to the scheduler and
    the workers unchanged. Its ``name`` is fixed and it is ``idempotent``:
    registering it again keeps the runtimes already created.
    """

    name = PLUGIN_NAME
    idempotent = True

    def __init__(
        self, threads: int = 0, io_threads: int = 0, python_threads: int = 0, progress_interval: float = 1.0
    ) -> None:
        self.threads = _check_size("threads", threads)
        self.io_threads = _check_size("io_threads", io_threads)
        self.python_threads = _check_size("python_threads", python_threads)
        if isinstance(progress_interval, bool) or not isinstance(progress_interval, (int, float)):
            raise TypeError(f"progress_interval must be a number, not {type(progress_interval).__name__}")
        if not progress_interval >= 0:
            raise ValueError(f"progress_interval must be >= 0 seconds (0: do not publish), got {progress_interval}")
        self.progress_interval = float(progress_interval)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(threads={self.threads}, io_threads={self.io_threads}, "
            f"python_threads={self.python_threads}, progress_interval={self.progress_interval:g})"
        )

    def resolved_threads(self, worker: object) -> int:
        """The compute pool size ``setup`` gives ``worker``'s runtime."""
        if self.threads:
            return self.threads
        own = _worker_nthreads(worker)
        cpus = _usable_cpus()
        return min(own, cpus) if own else cpus

    def setup(self, worker: object) -> None:
        """Creates ``worker``'s runtime, stores it as
        ``worker.dftracer_utils_runtime`` and makes it the default runtime
        for code on that worker (:func:`dftracer.utils.get_default_runtime`).

        ``worker`` may be any object that takes attributes; its ``address``,
        ``nthreads`` and event loop are used when it has them. A worker that
        already has a live runtime (another registration of this plugin
        under a different name) keeps it.
        """
        existing = getattr(worker, WORKER_RUNTIME_ATTR, None)
        if isinstance(existing, Runtime) and not existing._is_unusable():
            logger.warning(
                "dask worker %s already has a dftracer.utils runtime (%r); keeping it", _describe(worker), existing
            )
            return
        runtime = Runtime(
            threads=self.resolved_threads(worker),
            io_threads=self.io_threads,
            python_threads=self.python_threads,
        )
        setattr(worker, WORKER_RUNTIME_ATTR, runtime)
        setattr(worker, _OWNER_ATTR, self)
        _defaults._bind_worker_runtime(runtime)
        _worker_of_runtime[runtime._native.runtime_id] = worker
        publisher = _ProgressPublisher.start_for(worker, runtime, self.progress_interval)
        if publisher is not None:
            setattr(worker, _PUBLISHER_ATTR, publisher)
        logger.info("dftracer.utils runtime for dask worker %s: %r", _describe(worker), runtime)

    def teardown(self, worker: object) -> Optional[Awaitable[None]]:
        """Shuts ``worker``'s runtime down; idempotent.

        Like Dask's own executor at close, tasks that have not started are
        cancelled and running ones finish. Called from synchronous code it
        returns once that is done. Called on a running event loop (as Dask
        does), the blocking part runs on a short-lived thread and this
        returns an awaitable that completes once that thread has joined
        every runtime thread: the loop keeps serving meanwhile, and the
        shutdown proceeds even if nobody awaits it.
        """
        runtime, publisher = self._detach(worker)
        try:
            loop: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        address = _describe(worker)
        if loop is None:
            if runtime is not None:
                runtime.shutdown(wait=False)
                logger.info("dftracer.utils runtime for dask worker %s shut down", address)
            if publisher is not None:
                publisher.publish(closed=True)
            return None
        if runtime is None:
            done: "asyncio.Future[None]" = loop.create_future()
            done.set_result(None)
            return done
        return _shutdown_off_loop(runtime, address, loop, publisher)

    def _detach(self, worker: object) -> Tuple[Optional[Runtime], Optional["_ProgressPublisher"]]:
        """Takes ``worker``'s runtime off it (when this plugin made it) and
        stops its publisher's checks: tasks still running get a clear error
        from get_worker_runtime() instead of a runtime that is going away."""
        runtime = getattr(worker, WORKER_RUNTIME_ATTR, None)
        if not isinstance(runtime, Runtime) or getattr(worker, _OWNER_ATTR, None) is not self:
            return None, None
        for attr in (WORKER_RUNTIME_ATTR, _OWNER_ATTR):
            try:
                delattr(worker, attr)
            except AttributeError:  # pragma: no cover - removed by someone else meanwhile
                pass
        publisher = getattr(worker, _PUBLISHER_ATTR, None)
        if isinstance(publisher, _ProgressPublisher):
            delattr(worker, _PUBLISHER_ATTR)
            publisher.stop_checks()
        else:
            publisher = None
        _defaults._unbind_worker_runtime(runtime)
        for key in [k for k, w in _worker_of_runtime.items() if w is worker]:
            del _worker_of_runtime[key]
        return runtime, publisher


def _shutdown_off_loop(
    runtime: Runtime, address: str, loop: asyncio.AbstractEventLoop, publisher: Optional["_ProgressPublisher"]
) -> "asyncio.Task[None]":
    """Starts ``runtime.shutdown(wait=False)`` on a thread of its own, now,
    and returns a task on ``loop`` that completes once it is done (so the
    shutdown happens even if the task is never awaited, or cancelled).

    A dedicated thread rather than the loop's default executor: that pool's
    threads would outlive the teardown (and, with ``processes=False``, the
    test that closed the cluster)."""
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
        except RuntimeError:  # the loop closed meanwhile: nobody is waiting
            pass

    thread = threading.Thread(target=shut_down, name=f"dftracer-utils-dask-teardown {address}", daemon=True)
    thread.start()

    async def finished() -> None:
        try:
            await asyncio.wait_for(asyncio.shield(done), _TEARDOWN_WARN_SECONDS)
        except asyncio.TimeoutError:
            logger.warning(
                "dftracer.utils runtime for dask worker %s: still waiting for running tasks after %.0f s of teardown",
                address,
                _TEARDOWN_WARN_SECONDS,
            )
            await done
        # The thread set the result as its last act; this join is immediate.
        thread.join()
        if publisher is not None:
            publisher.publish(closed=True)
        logger.info("dftracer.utils runtime for dask worker %s shut down", address)

    return loop.create_task(finished())


class AutoThreadDaskWorkerPlugin(DFTracerUtilsDaskWorkerPlugin):
    """The plugin :func:`register_auto_thread_plugin` registers: each
    worker's runtime gets the worker's own ``nthreads`` (capped at the CPUs
    it may use); for a worker that does not say, the host's CPUs divided by
    the workers on that host, as counted when the plugin was registered.

    Same name as :class:`DFTracerUtilsDaskWorkerPlugin`, so only one of the
    two gives a worker its runtime.
    """

    def __init__(
        self,
        host_worker_counts: Optional[Mapping[str, int]] = None,
        io_threads: int = 0,
        python_threads: int = 0,
        progress_interval: float = 1.0,
    ) -> None:
        super().__init__(0, io_threads, python_threads, progress_interval)
        self.host_worker_counts: Dict[str, int] = dict(host_worker_counts or {})

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, host_worker_counts={self.host_worker_counts!r})"

    def resolved_threads(self, worker: object) -> int:
        own = _worker_nthreads(worker)
        cpus = _usable_cpus()
        if own:
            return min(own, cpus)
        address = getattr(worker, "address", None)
        counts = self.host_worker_counts
        # A worker missing from the snapshot (joined later, or its address
        # spells the host differently) assumes the busiest host's count:
        # guessing too few workers oversubscribes, too many only idles.
        sharing = counts.get(_host_of(address), 0) if isinstance(address, str) else 0
        sharing = sharing or max(counts.values(), default=1)
        return max(1, cpus // max(1, sharing))


def register_auto_thread_plugin(
    client: Optional["Client"] = None, *, io_threads: int = 0, python_threads: int = 0, progress_interval: float = 1.0
) -> Optional[Dict[str, Any]]:
    """Registers :class:`AutoThreadDaskWorkerPlugin` on ``client`` (default:
    the current client, ``distributed.get_client()``), so each worker's
    runtime matches that worker's share of its host.

    Idempotent like the plugin: calling it again, or after registering
    :class:`DFTracerUtilsDaskWorkerPlugin`, keeps the runtimes that exist.
    Without a client (none given and none current) it does nothing and
    returns None, logging a warning.

    Example::

        client = Client(cluster)
        register_auto_thread_plugin(client)

    Returns:
        What ``client.register_plugin`` returns (per-worker status), or None.
    """
    if client is None:
        try:
            client = get_client()
        except ValueError:
            logger.warning("register_auto_thread_plugin(): no Dask client is active; nothing registered")
            return None
    nthreads: Mapping[str, Any] = client.nthreads()  # type: ignore[no-untyped-call]
    host_counts = Counter(_host_of(address) for address in nthreads)
    plugin = AutoThreadDaskWorkerPlugin(
        dict(host_counts), io_threads=io_threads, python_threads=python_threads, progress_interval=progress_interval
    )
    logger.info("registering %r for %d worker(s)", plugin, len(nthreads))
    result: Dict[str, Any] = client.register_plugin(plugin)
    return result


def get_worker_runtime(worker: Optional["Worker"] = None) -> Runtime:
    """The runtime of the Dask worker the calling task runs on.

    Call it inside a Dask task (``client.submit``, ``dask.delayed``, ...).
    Pass ``worker`` explicitly where ``distributed.get_worker()`` does not
    work, e.g. in a function given to ``client.run`` (its ``dask_worker``
    argument). Inside a Dask task, :func:`dftracer.utils.get_default_runtime`
    answers the same runtime.

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
    runtime = getattr(worker, WORKER_RUNTIME_ATTR, None)
    if not isinstance(runtime, Runtime):
        raise RuntimeError(
            f"dask worker {_describe(worker)} has no dftracer.utils runtime: register the plugin "
            "first with client.register_plugin(DFTracerUtilsDaskWorkerPlugin()) "
            "(or the worker is closing)"
        )
    return runtime


def _summarize(dask_worker: "Worker") -> Optional[RuntimeSummary]:
    """``client.run`` body: the summary of ``dask_worker``'s runtime, or
    ``None`` when it has none. ``client.run`` passes the worker by this
    argument name."""
    runtime = getattr(dask_worker, WORKER_RUNTIME_ATTR, None)
    if not isinstance(runtime, Runtime):
        return None
    progress = runtime._native.progress(0, False)  # totals and workers only
    return RuntimeSummary(
        threads=runtime.threads,
        io_threads=runtime.io_threads,
        python_threads=runtime.python_threads,
        total=progress["total"],
        completed=progress["completed"],
        running=progress["running"],
        blocked=progress["blocked"],
        queued=progress["queued"],
        failed=progress["failed"],
        cancelled=progress["cancelled"],
        timed_out=progress["timed_out"],
        workers=progress["workers"],
    )


def cluster_progress(client: "Client", workers: Optional[List[str]] = None) -> Dict[str, Optional[RuntimeSummary]]:
    """Each worker's runtime summary, keyed by worker address, asked of
    every worker now (see :class:`ProgressAggregator` for a view that is
    pushed to the client instead).

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
