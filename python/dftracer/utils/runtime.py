"""Runtime: submit Python callables to the C++ work-stealing pool.

Python callables run on the runtime's compute workers (not on a separate
Python thread pool): one scheduler, one progress view. Each worker keeps one
Python thread state for its life and holds the GIL only while it runs a
callable; blocking calls here release the GIL and stay interruptible.
"""

from __future__ import annotations

import logging
import os
import sys
from types import TracebackType
from typing import IO, Any, Callable, Dict, Iterable, List, Literal, Optional, Type, TypeVar, Union, overload

from dftracer.utils import _core, _lifecycle
from dftracer.utils._core import _NativeTaskHandle
from dftracer.utils.executor import RuntimeExecutor
from dftracer.utils.mapping import MapIterator, NameSpec, make_map
from dftracer.utils.progress_types import Progress
from dftracer.utils.task_dump import TaskDump, collect_task_dump
from dftracer.utils.task_handle import TaskHandle
from dftracer.utils.trace import TraceSummary, trace_path_from_environment

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:  # pragma: no cover
    from typing_extensions import ParamSpec

__all__ = ["Runtime"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")

ErrorCallback = Callable[[TaskHandle[Any], BaseException], None]
#: Milliseconds as a number, or a string with a unit ("250ms", "30s", "5m", "1h"); None for none.
Duration = Union[int, float, str, None]

#: The option defaults, as the engine states them (runtime_defaults.hpp).
_DEFAULTS: Dict[str, int] = dict(_core.DEFAULTS)


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (0 picks a size automatically), got {value}")
    return value


def _io_threads_from_environment() -> int:
    """DFTRACER_UTILS_IO_THREADS as an int, or 0 (unset, "0", or invalid;
    an invalid value is logged)."""
    raw = os.environ.get("DFTRACER_UTILS_IO_THREADS", "").strip()
    if not raw:
        return 0
    if raw.isdigit():
        return int(raw)
    logger.warning("DFTRACER_UTILS_IO_THREADS=%r ignored: expected a number of threads", raw)
    return 0


class Runtime:
    """Runtime with async task submission and Python callable support.

    Example::

        with Runtime(threads=8, io_threads=8, python_threads=4) as rt:
            h = rt.submit(lambda x: x * 2, 21)
            assert h.get() == 42

    Args:
        threads: compute workers; 0 uses ``DFTRACER_UTILS_THREADS`` or the
            CPUs this process may use.
        io_threads: workers of the separate pool for blocking I/O; 0 uses
            ``DFTRACER_UTILS_IO_THREADS`` or as many as the compute pool.
        python_threads: the most Python callables that run at once; 0 means
            no cap beyond the workers themselves. Only one of them executes
            Python bytecode at a time (the GIL); the cap matters for callables
            that release the GIL (I/O, NumPy, zlib) and for keeping workers
            free for native tasks.
        recent_tasks: how many finished tasks ``get_progress()`` remembers.
        watchdog_interval: how often the watchdog samples the workers (ms or
            a string with a unit); 0 turns the watchdog off (no timeouts, no
            stall or starvation handling).
        stall_threshold: work queued and nothing finishing for this long
            makes :meth:`is_responsive` False (logged as a warning).
        starvation_threshold: when every compute worker has been blocked or
            busy with one task for this long while work waits, the watchdog
            adds a temporary worker (logged); it retires once idle.
        long_task_threshold: tasks running longer are logged once each
            (logger ``dftracer.utils``, batched).
        max_temporary_workers: cap on temporary workers per pool (default
            256): the ones started while a worker blocks in a wait, and the
            ones the watchdog adds on starvation, are the same threads under
            this one cap. 0 allows none.
        max_pending: the most tasks queued or running at once (0: no
            bound). While that many are pending, :meth:`submit` waits (GIL
            released, Ctrl-C interrupts it) and :meth:`try_submit` raises
            :class:`RuntimeFullError`; native tasks submitted through the C
            ABI wait too. Tasks submitted by the runtime's own tasks are
            never made to wait: they are admitted over the bound, because
            the submitting task is itself pending and blocking it could wait
            forever (see docs/large-jobs.md).
        caller_runs: a thread outside the pools that waits (``get()`` or
            ``wait()`` without a timeout) for a Python task that has not
            started runs it itself, as ``concurrent.futures`` never does and
            task runtimes commonly do: it holds the GIL the task needs
            anyway, so a submit-then-get costs no thread hand-off, even when
            every core is busy. Such a task runs on the waiting thread (its
            thread-locals, ``threading.current_thread()``) and progress
            shows it under ``callers``. While a default task timeout or a
            global timeout is set, tasks stay on the workers, so that a
            timeout releases the waiter at the deadline. Ctrl-C while the waiting main
            thread runs a task itself raises ``KeyboardInterrupt`` in the
            task's code, as if it had been called directly: the task ends
            failed with that ``KeyboardInterrupt`` (its ``get()`` raises it
            again), and the runtime stays usable. ``False`` keeps every task
            on the pool's workers, where Ctrl-C interrupts only the wait and
            the task goes on.
        trace: write the runtime's timeline to this file (DFTracer ``.pfw``
            JSON lines, gzip when it ends in ``.gz``): one event per task,
            queue depth, watchdog actions (see :meth:`start_trace`). None
            uses ``DFTRACER_UTILS_TRACE`` when set. ``OSError`` when the
            file cannot be written.
    """

    def __init__(
        self,
        threads: int = 0,
        io_threads: int = 0,
        python_threads: int = 0,
        *,
        recent_tasks: int = _DEFAULTS["recent_tasks"],
        watchdog_interval: Duration = _DEFAULTS["watchdog_interval"],
        stall_threshold: Duration = _DEFAULTS["stall_threshold"],
        starvation_threshold: Duration = _DEFAULTS["starvation_threshold"],
        long_task_threshold: Duration = _DEFAULTS["long_task_threshold"],
        max_temporary_workers: int = _DEFAULTS["max_temporary_workers"],
        max_pending: int = _DEFAULTS["max_pending"],
        caller_runs: bool = True,
        trace: Union[str, "os.PathLike[str]", None] = None,
    ) -> None:
        threads = _check_size("threads", threads)
        io_threads = _check_size("io_threads", io_threads) or _io_threads_from_environment()
        python_threads = _check_size("python_threads", python_threads)
        recent_tasks = _check_size("recent_tasks", recent_tasks)
        max_temporary_workers = _check_size("max_temporary_workers", max_temporary_workers)
        max_pending = _check_size("max_pending", max_pending)
        self._native = _core._NativeRuntime(
            threads,
            io_threads,
            python_threads,
            recent_tasks,
            watchdog_interval,
            stall_threshold,
            starvation_threshold,
            long_task_threshold,
            max_temporary_workers,
            max_pending,
            bool(caller_runs),
        )
        self._error_callback: Optional[ErrorCallback] = None
        trace_path = os.fspath(trace) if trace is not None else trace_path_from_environment()
        if trace_path is not None:
            try:
                self.start_trace(trace_path)
            except BaseException:
                self._native.shutdown(False)
                raise
        _lifecycle.register(self)
        logger.debug(
            "dftracer.utils runtime started: threads=%d io_threads=%d python_threads=%d",
            self.threads,
            self.io_threads,
            self.python_threads,
        )

    # -- timeouts ----------------------------------------------------------

    def set_default_task_timeout(self, ms: Duration = 0) -> None:
        """Sets the timeout of every task, counted from when it starts running.

        ``ms`` is milliseconds as a number (``250``), or a string with its
        unit (``"250ms"``, ``"30s"``, ``"5m"``, ``"1h"``; a bare numeric
        string is milliseconds); ``None`` or ``0`` (the default) removes it.
        It may be passed by position or by name (``ms=250``). A task past it
        completes at once with :class:`TaskTimeoutError` (its waiters are
        released and the error shows in ``get_progress()["errors"]``), and
        its code is asked to stop: a Python callable gets a
        ``TaskTimeoutError`` raised at its next bytecode (a blocking C call
        such as ``time.sleep`` is interrupted only when it returns).

        Raises:
            ValueError: negative, NaN or unparseable values.

        Example::

            rt.set_default_task_timeout("30s")
            rt.set_default_task_timeout(ms=30_000)   # the same
        """
        self._native.set_default_task_timeout(ms)

    def set_timeout(self, global_ms: Duration = 0) -> None:
        """Bounds how long the runtime may run submitted work, from now.

        Same units as :meth:`set_default_task_timeout`, by position or by
        name (``global_ms=60_000``). Once it passes, every queued and running
        task (and any submitted later) times out with
        :class:`TaskTimeoutError` and :meth:`is_responsive` is False;
        ``None`` or ``0`` (the default) clears it.

        Raises:
            ValueError: negative, NaN or unparseable values.
            RuntimeError: the watchdog is off (``watchdog_interval=0``).
        """
        self._native.set_timeout(global_ms)

    # -- sizes -------------------------------------------------------------

    @property
    def threads(self) -> int:
        """Compute workers actually in use."""
        return int(self._native.threads)

    @property
    def io_threads(self) -> int:
        """I/O workers actually in use."""
        return int(self._native.io_threads)

    @property
    def python_threads(self) -> int:
        """The cap on Python callables running at once (``threads`` when uncapped)."""
        return int(self._native.python_threads)

    @property
    def max_pending(self) -> int:
        """The ``max_pending`` bound (0: none)."""
        return int(self._native.max_pending)

    @property
    def pending(self) -> int:
        """Tasks holding a ``max_pending`` slot now: queued or running (0
        when there is no bound)."""
        return int(self._native.pending)

    # -- submitting --------------------------------------------------------

    @overload
    def submit(self, task_or_fn: TaskHandle[R], /, *, name: Optional[str] = None) -> TaskHandle[R]: ...

    @overload
    def submit(self, task_or_fn: _NativeTaskHandle, /, *, name: Optional[str] = None) -> TaskHandle[Any]: ...

    # PEP 612 allows no keyword-only parameter beside P.args/P.kwargs, so
    # the call is typed twice: without name= its arguments are checked
    # against the callable's signature; with name= only the result type
    # carries through.
    @overload
    def submit(self, task_or_fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> TaskHandle[R]: ...

    @overload
    def submit(  # type: ignore[overload-cannot-match]  # matched when fn takes no `name`
        self, task_or_fn: Callable[..., R], /, *args: Any, name: Optional[str], **kwargs: Any
    ) -> TaskHandle[R]: ...

    def submit(  # type: ignore[misc]  # `name` is reserved, whatever P.kwargs says
        self, task_or_fn: Any, /, *args: Any, name: Optional[str] = None, **kwargs: Any
    ) -> TaskHandle[Any]:
        """Submits a task for asynchronous execution and returns its handle at once.

        ``task_or_fn`` is a Python callable (run on a compute worker with
        ``*args`` and ``**kwargs``) or a native task handle from a C++
        extension (passed through; it already runs on this runtime).

        Example::

            h = rt.submit(lambda x, y: x + y, 3, 4, name="add")
            result = h.get()  # 7

        With ``max_pending`` set, waits while that many tasks are pending
        (GIL released, Ctrl-C interrupts it), except when called from one of
        this runtime's own tasks; :meth:`try_submit` raises instead.

        Raises:
            TypeError: ``task_or_fn`` is neither callable nor a task handle,
                or ``name`` is not a str.
            RuntimeError: the runtime is shut down.
        """
        # The hot path is one call into C++ (name check, default name, submit,
        # handle); it answers None for what is not callable.
        handle: Optional[TaskHandle[Any]] = self._native.submit_python(task_or_fn, args, kwargs, name)
        if handle is not None:
            return handle
        if isinstance(task_or_fn, (TaskHandle, _NativeTaskHandle)):
            return self._adopt(task_or_fn, name)
        raise TypeError(f"submit() takes a callable or a task handle, not {type(task_or_fn).__name__}")

    @overload
    def submit_io(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> TaskHandle[R]: ...

    @overload
    def submit_io(  # type: ignore[overload-cannot-match]  # as for submit
        self, fn: Callable[..., R], /, *args: Any, name: Optional[str], **kwargs: Any
    ) -> TaskHandle[R]: ...

    def submit_io(  # type: ignore[misc]  # as for submit
        self, fn: Callable[..., R], /, *args: Any, name: Optional[str] = None, **kwargs: Any
    ) -> TaskHandle[R]:
        """Like :meth:`submit`, but runs ``fn`` on the I/O pool (``io_threads``
        workers kept apart for blocking reads and writes), so slow I/O never
        occupies a compute worker.

        Example::

            raw = rt.submit_io(Path("trace.pfw.gz").read_bytes)
            parsed = rt.submit(parse, raw)   # parse calls raw.get()
        """
        handle: Optional[TaskHandle[R]] = self._native.submit_python(fn, args, kwargs, name, True)
        if handle is None:
            raise TypeError(f"submit_io() takes a callable, not {type(fn).__name__}")
        return handle

    @overload
    def try_submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> TaskHandle[R]: ...

    @overload
    def try_submit(  # type: ignore[overload-cannot-match]  # as for submit
        self, fn: Callable[..., R], /, *args: Any, name: Optional[str], timeout: float = 0.0, **kwargs: Any
    ) -> TaskHandle[R]: ...

    @overload
    def try_submit(  # type: ignore[overload-cannot-match]  # as for submit
        self, fn: Callable[..., R], /, *args: Any, timeout: float, **kwargs: Any
    ) -> TaskHandle[R]: ...

    def try_submit(  # type: ignore[misc]  # as for submit
        self, fn: Callable[..., R], /, *args: Any, name: Optional[str] = None, timeout: float = 0.0, **kwargs: Any
    ) -> TaskHandle[R]:
        """Like :meth:`submit`, but never waits for room under ``max_pending``
        (or waits at most ``timeout`` seconds): raises
        :class:`RuntimeFullError` instead. Without a bound it is ``submit``.

        ``name`` and ``timeout`` are taken by ``try_submit`` itself; pass a
        callable's own ``timeout`` argument with ``functools.partial``.

        Example::

            try:
                h = rt.try_submit(parse, path)
            except dft.RuntimeFullError:
                backlog.append(path)      # come back later
        """
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
        handle: Optional[TaskHandle[R]] = self._native.try_submit_python(fn, args, kwargs, name, False, float(timeout))
        if handle is None:
            raise TypeError(f"try_submit() takes a callable, not {type(fn).__name__}")
        return handle

    # -- large jobs --------------------------------------------------------

    @overload
    def map(
        self,
        fn: Callable[[A], R],
        iterable: Iterable[A],
        /,
        *,
        buffersize: Optional[int] = None,
        ordered: bool = True,
        chunksize: int = 1,
        name: NameSpec = None,
        return_handles: Literal[False] = False,
    ) -> MapIterator[R]: ...

    @overload
    def map(
        self,
        fn: Callable[[A], R],
        iterable: Iterable[A],
        /,
        *,
        buffersize: Optional[int] = None,
        ordered: bool = True,
        chunksize: int = 1,
        name: NameSpec = None,
        return_handles: Literal[True],
    ) -> MapIterator[TaskHandle[R]]: ...

    @overload
    def map(
        self,
        fn: Callable[[A, B], R],
        iterable1: Iterable[A],
        iterable2: Iterable[B],
        /,
        *,
        buffersize: Optional[int] = None,
        ordered: bool = True,
        chunksize: int = 1,
        name: NameSpec = None,
        return_handles: Literal[False] = False,
    ) -> MapIterator[R]: ...

    @overload
    def map(
        self,
        fn: Callable[[A, B], R],
        iterable1: Iterable[A],
        iterable2: Iterable[B],
        /,
        *,
        buffersize: Optional[int] = None,
        ordered: bool = True,
        chunksize: int = 1,
        name: NameSpec = None,
        return_handles: Literal[True],
    ) -> MapIterator[TaskHandle[R]]: ...

    @overload
    def map(
        self,
        fn: Callable[[A, B, C], R],
        iterable1: Iterable[A],
        iterable2: Iterable[B],
        iterable3: Iterable[C],
        /,
        *,
        buffersize: Optional[int] = None,
        ordered: bool = True,
        chunksize: int = 1,
        name: NameSpec = None,
        return_handles: Literal[False] = False,
    ) -> MapIterator[R]: ...

    @overload
    def map(
        self,
        fn: Callable[[A, B, C], R],
        iterable1: Iterable[A],
        iterable2: Iterable[B],
        iterable3: Iterable[C],
        /,
        *,
        buffersize: Optional[int] = None,
        ordered: bool = True,
        chunksize: int = 1,
        name: NameSpec = None,
        return_handles: Literal[True],
    ) -> MapIterator[TaskHandle[R]]: ...

    @overload
    def map(
        self,
        fn: Callable[..., R],
        iterable1: Iterable[Any],
        iterable2: Iterable[Any],
        iterable3: Iterable[Any],
        iterable4: Iterable[Any],
        /,
        *iterables: Iterable[Any],
        buffersize: Optional[int] = None,
        ordered: bool = True,
        chunksize: int = 1,
        name: NameSpec = None,
        return_handles: bool = False,
    ) -> MapIterator[Any]: ...

    def map(
        self,
        fn: Callable[..., R],
        /,
        *iterables: Iterable[Any],
        buffersize: Optional[int] = None,
        ordered: bool = True,
        chunksize: int = 1,
        name: NameSpec = None,
        return_handles: bool = False,
    ) -> MapIterator[Any]:
        """``fn`` over the items of ``iterables`` (zipped, like :func:`map`),
        lazily, with at most ``buffersize`` tasks in flight.

        - The input is read as results are taken, so a generator of ten
          million items is never held in memory. ``buffersize`` defaults to
          ``max(256, 8 * threads)``.
        - ``ordered=True``: results in input order. ``ordered=False``: as
          tasks finish (completion order).
        - A failed item raises its own exception when its result comes out
          (its turn in input order, or when it finishes), with a note
          naming its index and task; the map stops there.
          ``return_handles=True`` yields each item's :class:`TaskHandle`
          instead (done, in the chosen order) and never raises for one.
        - Closing it (``close()``, a ``with`` block, breaking out of a
          ``for`` loop over it, dropping it) cancels what has not started
          and waits for nothing; running tasks are asked to stop
          (:func:`dftracer.utils.cancelled`).
        - ``name``: each task's name, so progress shows which item is being
          worked on: a string, or a callable of the item (of the items, for
          several iterables) such as ``name=str`` for paths. Default: the
          callable's name.
        - ``chunksize=n`` runs ``n`` items per task (far less overhead per
          tiny item); results and errors still come out item by item, and
          a chunk task is named after its first item.

        Example::

            for digest in rt.map(sha256_of, paths, buffersize=64, name=str):
                ...
            for h in rt.map(parse, paths, ordered=False, return_handles=True):
                if h.exception is not None:
                    print("failed:", h.name, h.exception)
            total = sum(rt.map(len, words, chunksize=256))
        """
        return make_map(
            self,
            fn,
            iterables,
            buffersize=buffersize,
            ordered=ordered,
            chunksize=chunksize,
            name=name,
            return_handles=return_handles,
        )

    def executor(self) -> RuntimeExecutor:
        """A :class:`concurrent.futures.Executor` running on this runtime,
        with real ``concurrent.futures.Future`` results: for
        ``loop.run_in_executor``, ``concurrent.futures.as_completed`` and
        libraries that take an executor. Its ``shutdown()`` leaves the
        runtime running. Each call returns a new executor.

        Example::

            loop = asyncio.get_running_loop()
            digest = await loop.run_in_executor(rt.executor(), sha256_of, path)
        """
        return RuntimeExecutor(self)

    def _adopt(self, handle: Union[TaskHandle[Any], _NativeTaskHandle], name: Optional[str]) -> TaskHandle[Any]:
        native = handle.native if isinstance(handle, TaskHandle) else handle
        if native is None:  # a TaskHandle over a concurrent.futures.Future
            assert isinstance(handle, TaskHandle)
            return handle
        if not self._native.owns(native):
            raise ValueError(f"task {native.name!r} was submitted to another Runtime")
        if isinstance(handle, TaskHandle) and name is None:
            return handle
        return TaskHandle(native, None, name or native.name)

    # -- waiting -----------------------------------------------------------

    def wait(self, handle: TaskHandle[Any]) -> None:
        """Blocks until ``handle``'s task completes (re-raising its exception)."""
        handle.wait()

    def wait_all(
        self, raise_on_error: bool = False, progress: bool = False, *, progress_file: Optional[IO[str]] = None
    ) -> None:
        """Blocks until every task submitted so far has finished, including
        tasks that running tasks submit.

        With ``progress=True`` a progress line shows while it waits (on
        ``progress_file``, default stderr): tasks done since the call out of
        those pending, the rate, failures and what the workers are running;
        rewritten in place on a terminal (by tqdm when installed), one line
        every few seconds otherwise (see :mod:`dftracer.utils.progress_bar`).

        With ``raise_on_error=True``, raises one ``RuntimeError`` after
        everything finished if any task failed since the previous raising
        ``wait_all``; its message names each failed task and its error.
        Otherwise failures are only collected (see :meth:`get_failed`).
        """
        if progress:
            from dftracer.utils.progress_bar import wait_all_with_progress

            wait_all_with_progress(self, progress_file)
        else:
            self._native.wait_all(None)
        if raise_on_error:
            failures, not_listed = self._native.take_unreported_failures()
            if failures or not_listed:
                details = "; ".join(f"{name}: {message}" for name, message in failures)
                if not_listed:
                    details += f"; and {not_listed} more not listed"
                raise RuntimeError(f"{len(failures) + not_listed} task(s) failed: {details}")

    def get_failed(self) -> List[TaskHandle[Any]]:
        """Handles of the tasks that failed since the last :meth:`clear_failed`, in failure order."""
        return [TaskHandle(n, None, n.name) for n in self._native.failed()]

    def clear_failed(self) -> None:
        """Forgets the failures reported by :meth:`get_failed`."""
        self._native.clear_failed()

    def set_error_callback(self, callback: Optional[ErrorCallback]) -> None:
        """Sets ``callback(handle, exception)``, called when any task fails.

        It runs on the failing task's worker thread, before that task's
        ``get()``/``wait()``/covering ``wait_all()`` return, so what it
        records is there when the caller looks. It must be thread-safe. An
        exception inside it is logged and never affects the task. ``None``
        clears it.

        Example::

            rt.set_error_callback(lambda h, e: print(f"FAILED {h.name}: {e}"))
        """
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None, not {type(callback).__name__}")
        self._error_callback = callback
        if callback is None:
            self._native.set_error_callback(None)
            return

        def on_failure(native: _NativeTaskHandle, exc: BaseException) -> None:
            try:
                callback(TaskHandle(native, None, native.name), exc)
            except BaseException:
                logger.exception("dftracer.utils error callback raised for task %r", native.name)

        self._native.set_error_callback(on_failure)

    # -- observing ---------------------------------------------------------

    def get_progress(self, max_tasks: int = 1000) -> Progress:
        """A snapshot of what the runtime is doing.

        Counts: ``total``, ``completed``, ``failed`` (timed-out tasks
        included), ``cancelled`` and ``timed_out`` are cumulative since the
        runtime started. ``queued`` tasks have not started. ``running`` tasks
        are executing on a worker right now, one per worker that is not
        blocked: at most ``threads`` compute plus ``io_threads`` I/O tasks,
        except for the moment a temporary worker (started only while another
        is blocked) finishes the task it took. ``blocked`` tasks
        started and wait, without a worker of their own, for tasks they
        depend on (a ``get()`` or ``wait()`` inside a task; the waiting
        worker may run the awaited task meanwhile, and then shows that one).
        A started task is either running or blocked.

        Lists: ``workers`` has one entry per compute worker (``id``, ``idle``,
        ``task``, ``queue_depth`` and more; temporary ones marked
        ``temporary``), ``io_workers`` the same for the I/O pool. ``tasks``
        lists the recently finished tasks, then up to ``max_tasks`` live
        ones; each has its ``location`` (``"file.py:line"`` of the callable's
        definition, ``""`` when unknown), ``parent_id`` (the task that
        submitted it, or None) and ``children`` (ids of the tasks it
        submitted among those listed, at most 64). ``errors`` holds recent
        failures.

        Example::

            p = rt.get_progress()
            print(f"{p['completed']}/{p['total']} done, {p['running']} running, {p['blocked']} blocked")
        """
        progress: Progress = self._native.progress(max_tasks)
        return progress

    def is_responsive(self) -> bool:
        """False while the runtime is stalled (work queued and nothing
        finishing for ``stall_threshold``), after the global timeout of
        :meth:`set_timeout` passed, or once shut down; True again when work
        flows. Computed by the watchdog thread, so calling it is cheap."""
        return bool(self._native.is_responsive())

    # -- timeline and task dumps -------------------------------------------

    def start_trace(self, path: Union[str, "os.PathLike[str]"], *, flush_interval: float = 0.02) -> None:
        """Starts writing the timeline to ``path`` (gzip when it ends in ``.gz``).

        One JSON line per event, in the DFTracer ``.pfw`` form (Chrome Trace
        Events): an ``"X"`` event per task that finishes from now on, the
        ``"tasks"`` counter track (queued, running, blocked) and instant
        events for watchdog actions. Perfetto and chrome://tracing open it;
        ``python -m dftracer.utils timeline`` draws it. Events are buffered
        per worker and written every ``flush_interval`` seconds by a
        background thread.

        Raises ``OSError`` when the file cannot be opened or written now
        (missing directory, no permission, full disk), and ``RuntimeError``
        while a trace is already being written. A write that fails later is
        logged once (logger ``dftracer.utils.trace``) and tracing stops;
        the tasks go on. :meth:`shutdown` stops the trace itself.

        Example::

            rt.start_trace("run.pfw.gz")
            rt.map(work, items)
            summary = rt.stop_trace()
        """
        self._native.start_trace(os.fspath(path), float(flush_interval) * 1000.0)
        logger.debug("tracing to %s", os.fspath(path))

    def stop_trace(self) -> Optional[TraceSummary]:
        """Writes what is buffered, closes the file and returns a summary
        (path, events written, records dropped, the write error if one
        stopped it), or None when no trace was being written."""
        summary: Optional[TraceSummary] = self._native.stop_trace()
        return summary

    @property
    def tracing(self) -> bool:
        """True while a trace is being written (False after a write error)."""
        return bool(self._native.tracing)

    def dump_tasks(self) -> List[TaskDump]:
        """Every running task, longest running first: name, id, kind, the
        worker running it, for how long, what it waits on (another task's
        id, the GIL, or nothing visible) and, for a Python task, the stack
        of the thread running it (innermost frame last). Read while the
        tasks run; see :func:`dftracer.utils.task_dump.format_task_dump`.

        Example::

            for t in rt.dump_tasks():
                print(t["name"], t["worker"], t["waits_on"], t["stack"][-1:])
        """
        return collect_task_dump(self._native.dump_tasks())

    # -- lifecycle ---------------------------------------------------------

    def shutdown(self, wait: bool = True) -> None:
        """Shuts the runtime down; idempotent.

        ``wait=True`` (default) lets every queued task run first (and what
        they submit); ``wait=False`` cancels the tasks that have not started
        and asks running ones to stop. Either way the runtime refuses new
        work from other threads first (``RuntimeError``), so the shutdown
        ends even while they keep submitting; then it waits for running
        tasks and joins every thread. Ctrl-C interrupts the wait, and the
        runtime then takes work again. From inside one of the runtime's own
        tasks or callbacks it raises ``RuntimeError`` (it would wait for
        itself).
        """
        self._native.shutdown(wait)
        _lifecycle.unregister(self)

    def _native_runtime(self) -> _core._NativeRuntime:
        """The engine behind this runtime. The C ABI's runtime_from_python
        reaches it through this method only (checked at import by
        register_runtime_type below)."""
        return self._native

    def _is_unusable(self) -> bool:
        """Shut down, or inherited through fork."""
        return isinstance(self._native, _lifecycle.ForkedRuntime) or bool(self._native.is_shut_down)

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_val: Optional[BaseException],
        exc_tb: Optional[TracebackType],
    ) -> None:
        self.shutdown(wait=True)

    def __repr__(self) -> str:
        try:
            sizes = f"threads={self.threads} io_threads={self.io_threads} python_threads={self.python_threads}"
        except RuntimeError:  # inherited through fork, or abandoned at exit
            return "<Runtime (unusable: its threads are gone)>"
        return f"<Runtime {sizes}{' (shut down)' if self._native.is_shut_down else ''}>"


# Extensions given a Runtime reach its engine through _native_runtime().
_core.register_runtime_type(Runtime)
