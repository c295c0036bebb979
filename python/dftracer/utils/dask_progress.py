"""Cluster-wide progress pushed to the client: workers publish, one
aggregator sums.

Each Dask worker with a runtime (see :mod:`dftracer.utils.dask`) publishes
its runtime's totals to the Dask event topic :data:`PROGRESS_TOPIC`
(``"dft-progress"``) when they change, checked every ``progress_interval``
seconds on the worker's event loop; tasks add the progress of named phases
with :func:`publish_progress`. On the client, :class:`ProgressAggregator`
subscribes to the topic and keeps one summary of the whole cluster. Unlike
:func:`~dftracer.utils.dask.cluster_progress`, reading it asks nothing of
the workers.

Example::

    from dftracer.utils.dask import DFTracerUtilsDaskWorkerPlugin, ProgressAggregator

    client.register_plugin(DFTracerUtilsDaskWorkerPlugin(progress_interval=0.5))
    with ProgressAggregator(client, callback=lambda s: print(s["completed"], "/", s["total"])):
        client.gather(client.map(work, parts))
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Tuple, TypedDict, cast

try:
    from dask.context import thread_state
    from distributed import get_worker
except ImportError as _exc:  # pragma: no cover - as for dftracer.utils.dask
    raise ImportError(
        "dftracer.utils.dask_progress needs the 'distributed' package, which is not installed; "
        'install it: pip install "distributed>=2024.6.0" (or this package\'s dask extra)',
        name="distributed",
    ) from _exc

from dftracer.utils import _core
from dftracer.utils.progress_types import ProgressTotals
from dftracer.utils.runtime import Runtime

if TYPE_CHECKING:
    from distributed import Client, Worker

__all__ = [
    "ClusterProgress",
    "PROGRESS_TOPIC",
    "PhaseProgress",
    "ProgressAggregator",
    "WorkerRuntimeProgress",
    "publish_progress",
]

logger = logging.getLogger(__name__)

#: The Dask event topic workers publish their progress to.
PROGRESS_TOPIC = "dft-progress"

# runtime_id -> the worker it belongs to (kept by the plugin), for
# publish_progress() called in a task of that runtime, where
# distributed.get_worker() does not work.
_worker_of_runtime: Dict[int, Any] = {}


class WorkerRuntimeProgress(ProgressTotals):
    """What a worker publishes about its runtime on :data:`PROGRESS_TOPIC`."""

    kind: str  # "runtime"
    worker: str  # the worker's address
    started: float  # when its publisher started (time.time()): tells restarts apart
    seq: int  # increases with each message of one publisher
    time: float  # when this message was made (time.time())
    closed: bool  # the worker's runtime is shut down: its last message
    threads: int
    io_threads: int
    python_threads: int


class PhaseProgress(TypedDict):
    """A named phase of work, summed over its batches (see :func:`publish_progress`)."""

    done: int
    total: int


class ClusterProgress(ProgressTotals):
    """The cluster as :meth:`ProgressAggregator.summary` sums it: every
    count of :class:`ProgressTotals` added up over the workers' runtimes
    (closed ones keep their final counts)."""

    workers: int  # runtimes reporting that are not closed
    threads: int  # their compute threads, added up
    phases: Dict[str, PhaseProgress]
    per_worker: Dict[str, WorkerRuntimeProgress]


def _describe(worker: Any) -> str:
    """The worker's address for logs, or what else names it."""
    for attr in ("address", "name"):
        try:
            value = getattr(worker, attr, None)
        except Exception:  # an address that is not available any more
            value = None
        if value:
            return str(value)
    return f"<{type(worker).__name__} at {id(worker):#x}>"


_TOTAL_KEYS = ("total", "completed", "running", "blocked", "queued", "failed", "cancelled", "timed_out")


class _ProgressPublisher:
    """Publishes one worker's runtime totals to PROGRESS_TOPIC: checked every
    ``interval`` seconds on the worker's event loop, sent when they changed,
    and once more, marked closed, when the runtime goes."""

    def __init__(self, worker: Any, runtime: Runtime, interval: float) -> None:
        self._worker = worker
        self._runtime = runtime
        self._interval = interval
        self._address = _describe(worker)
        self._started = time.time()
        self._seq = 0
        self._last: Optional[Tuple[int, ...]] = None
        self._task: Optional["asyncio.Task[None]"] = None

    @classmethod
    def start_for(cls, worker: Any, runtime: Runtime, interval: float) -> Optional["_ProgressPublisher"]:
        """A running publisher, or None where nothing can be published (no
        interval, a worker object without ``log_event``, or no event loop)."""
        if interval <= 0 or not callable(getattr(worker, "log_event", None)):
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        publisher = cls(worker, runtime, interval)
        publisher._task = loop.create_task(publisher._run())
        return publisher

    async def _run(self) -> None:
        while True:
            self.publish(closed=False)
            await asyncio.sleep(self._interval)

    def publish(self, closed: bool) -> None:
        try:
            progress = self._runtime._native.progress(0, False)  # totals only: no task list
            counts = tuple(int(cast(Mapping[str, Any], progress)[k]) for k in _TOTAL_KEYS)
            if counts == self._last and not closed:
                return
            self._last = counts
            self._seq += 1
            message: WorkerRuntimeProgress = {
                "kind": "runtime",
                "worker": self._address,
                "started": self._started,
                "seq": self._seq,
                "time": time.time(),
                "closed": closed,
                "threads": self._runtime.threads,
                "io_threads": self._runtime.io_threads,
                "python_threads": self._runtime.python_threads,
                "total": progress["total"],
                "completed": progress["completed"],
                "running": progress["running"],
                "blocked": progress["blocked"],
                "queued": progress["queued"],
                "failed": progress["failed"],
                "cancelled": progress["cancelled"],
                "timed_out": progress["timed_out"],
            }
            self._worker.log_event(PROGRESS_TOPIC, dict(message))
        except Exception:  # never let reporting take the worker's loop down
            logger.debug("dftracer.utils: publishing progress of dask worker %s failed", self._address, exc_info=True)

    def stop_checks(self) -> None:
        """Stops the periodic checks; the owner then sends the last message
        (``publish(closed=True)``) once the runtime is shut down."""
        if self._task is not None:
            self._task.cancel()
            self._task = None


def publish_progress(
    phase: str, done: int, total: int, batch: Optional[str] = None, worker: Optional["Worker"] = None
) -> bool:
    """Publishes the progress of one batch of a named phase of work
    (``done`` of ``total``) to :data:`PROGRESS_TOPIC`;
    :class:`ProgressAggregator` sums the batches of each phase.

    Call it from a Dask task, or from a task that one submitted to its
    worker's runtime; pass ``worker`` elsewhere. ``batch`` tells apart the
    parts of a phase that run in parallel (default: the calling task's
    key). Cheap enough to call often: the message is queued on the worker's
    event loop.

    Example::

        def read_part(paths, part):
            for i, p in enumerate(paths):
                parse(p)
                publish_progress("reading", i + 1, len(paths), batch=str(part))

    Returns:
        True when it was published; False where there is no worker to
        publish through (not on a Dask worker).
    """
    if worker is None:
        try:
            worker = get_worker()
        except ValueError:
            worker = _worker_of_runtime.get(_core.current_runtime_id())
    if worker is None or not callable(getattr(worker, "log_event", None)):
        return False
    if batch is None:
        batch = _current_task_key() or _describe(worker)
    message = {
        "kind": "phase",
        "worker": _describe(worker),
        "phase": str(phase),
        "batch": str(batch),
        "done": int(done),
        "total": int(total),
        "time": time.time(),
    }
    worker.log_event(PROGRESS_TOPIC, message)
    return True


def _current_task_key() -> Optional[str]:
    """The key of the Dask task running on this thread, or None."""
    key = getattr(thread_state, "key", None)
    return str(key) if key is not None else None


class ProgressAggregator:
    """The cluster's progress in one summary, kept current from what the
    workers publish on :data:`PROGRESS_TOPIC` (their runtimes' totals, and
    phases reported with :func:`publish_progress`).

    Subscribes the client to the topic while started (a context manager, or
    :meth:`start`/:meth:`stop`), and first reads what the scheduler already
    holds for it, so workers that have been idle since are counted too.
    ``callback(summary)``, if given, runs after each message, on the
    client's event loop thread: keep it short; what it raises is logged.

    Example::

        with ProgressAggregator(client) as progress:
            futures = client.map(work, parts)
            while not all(f.done() for f in futures):
                s = progress.summary()
                print(f"{s['completed']}/{s['total']} runtime tasks, {s['running']} running")
                time.sleep(1)

    Works with a synchronous client; with an asynchronous one, the events
    published before :meth:`start` are not read.
    """

    def __init__(
        self,
        client: "Client",
        callback: Optional[Callable[[ClusterProgress], None]] = None,
        topic: str = PROGRESS_TOPIC,
    ) -> None:
        self._client = client
        self._callback = callback
        self._topic = topic
        self._lock = threading.Lock()
        self._runtimes: Dict[str, WorkerRuntimeProgress] = {}
        self._phases: Dict[Tuple[str, str], Tuple[int, int]] = {}
        self._subscribed = False

    def start(self) -> "ProgressAggregator":
        """Subscribes to the topic (idempotent) after reading what it holds."""
        if self._subscribed:
            return self
        if not getattr(self._client, "asynchronous", False):
            try:
                for event in self._client.get_events(self._topic):
                    self._take(event, notify=False)
            except Exception:
                logger.debug("dftracer.utils: reading past %r events failed", self._topic, exc_info=True)
        self._client.subscribe_topic(self._topic, self.handle_event)  # type: ignore[no-untyped-call]
        self._subscribed = True
        return self

    def stop(self) -> None:
        """Unsubscribes; the last summary stays readable."""
        if not self._subscribed:
            return
        self._subscribed = False
        try:
            self._client.unsubscribe_topic(self._topic)  # type: ignore[no-untyped-call]
        except ValueError:  # already unsubscribed by someone else
            pass

    def __enter__(self) -> "ProgressAggregator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle_event(self, event: Any) -> None:
        """Takes one ``(timestamp, message)`` event of the topic (what Dask
        passes a topic handler); messages of unknown shape are ignored."""
        self._take(event, notify=True)

    def _take(self, event: Any, notify: bool) -> None:
        try:
            _, message = event
            kind = message.get("kind")
            if kind is None and "phase" in message:
                kind = "phase"  # {"phase", "batch", "done", "total"} alone, as upstream's forwarders send
            with self._lock:
                if kind == "runtime":
                    self._take_runtime(message)
                elif kind == "phase":
                    key = (str(message["phase"]), str(message["batch"]))
                    self._phases[key] = (int(message["done"]), int(message["total"]))
                else:
                    return
        except (TypeError, ValueError, KeyError, AttributeError):
            logger.debug("dftracer.utils: ignoring a malformed %r event: %r", self._topic, event)
            return
        if notify and self._callback is not None:
            try:
                self._callback(self.summary())
            except Exception:
                logger.exception("dftracer.utils: the ProgressAggregator callback raised")

    def _take_runtime(self, message: Mapping[str, Any]) -> None:
        worker = str(message["worker"])
        entry = WorkerRuntimeProgress(
            kind="runtime",
            worker=worker,
            started=float(message["started"]),
            seq=int(message["seq"]),
            time=float(message["time"]),
            closed=bool(message["closed"]),
            threads=int(message["threads"]),
            io_threads=int(message["io_threads"]),
            python_threads=int(message["python_threads"]),
            total=int(message["total"]),
            completed=int(message["completed"]),
            running=int(message["running"]),
            blocked=int(message["blocked"]),
            queued=int(message["queued"]),
            failed=int(message["failed"]),
            cancelled=int(message["cancelled"]),
            timed_out=int(message["timed_out"]),
        )
        old = self._runtimes.get(worker)
        # Events of one worker arrive in order, but the past events read at
        # start may overlap the subscription's: keep the newest.
        if old is None or (entry["started"], entry["seq"]) > (old["started"], old["seq"]):
            self._runtimes[worker] = entry

    def summary(self) -> ClusterProgress:
        """The cluster's counts now (a new dict; safe to keep)."""
        with self._lock:
            runtimes = {k: WorkerRuntimeProgress(**v) for k, v in self._runtimes.items()}
            phase_items = list(self._phases.items())
        totals = {key: sum(int(cast(Mapping[str, Any], r)[key]) for r in runtimes.values()) for key in _TOTAL_KEYS}
        phases: Dict[str, PhaseProgress] = {}
        for (phase, _batch), (done, total) in phase_items:
            entry = phases.setdefault(phase, PhaseProgress(done=0, total=0))
            entry["done"] += done
            entry["total"] += total
        open_runtimes = [r for r in runtimes.values() if not r["closed"]]
        return ClusterProgress(
            workers=len(open_runtimes),
            threads=sum(r["threads"] for r in open_runtimes),
            phases=phases,
            per_worker=runtimes,
            total=totals["total"],
            completed=totals["completed"],
            running=totals["running"],
            blocked=totals["blocked"],
            queued=totals["queued"],
            failed=totals["failed"],
            cancelled=totals["cancelled"],
            timed_out=totals["timed_out"],
        )
