"""RuntimeExecutor: a ``concurrent.futures.Executor`` backed by a Runtime.

``rt.executor()`` gives code that takes an Executor (``loop.run_in_executor``,
``concurrent.futures.as_completed``/``wait``, libraries with an
``executor=`` argument) the runtime's pool: the callables run on its
workers, show in its progress, count in its failures, and obey its
``max_pending`` bound. The futures are real ``concurrent.futures.Future``
objects, completed by a done callback on each task, so no thread waits per
future.

Shutting the executor down does not shut the runtime down: it stops this
executor taking work and (``wait=True``) waits for the futures it handed out.

It subclasses ``ThreadPoolExecutor`` only so that code insisting on one
accepts it (``loop.set_default_executor`` does, and then ``asyncio.to_thread``
runs on the runtime); it starts no thread of its own: every method that
would is overridden.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Deque, Iterable, Iterator, Optional, Set, TypeVar

from dftracer.utils.task_handle import TaskHandle

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:  # pragma: no cover
    from typing_extensions import ParamSpec

if TYPE_CHECKING:
    from dftracer.utils.runtime import Runtime

__all__ = ["RuntimeExecutor"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class _RuntimeFuture(cf.Future[T]):
    """A Future whose ``cancel()`` also cancels the task, and whose
    ``running()`` reads the task's state."""

    def __init__(self, handle: TaskHandle[T]) -> None:
        super().__init__()
        self._handle = handle

    def cancel(self) -> bool:
        # A task that never started is cancelled by the runtime, which runs
        # our done callback (_settle) right here and cancels this future.
        if self._handle.cancel():
            return True
        return self.cancelled()

    def running(self) -> bool:
        return not self.done() and self._handle.state == "running"

    def _settle(self, handle: TaskHandle[T]) -> None:
        """Done callback of the task: copies its outcome into the future."""
        try:
            if handle.cancelled():
                cf.Future.cancel(self)
                self.set_running_or_notify_cancel()  # wakes as_completed/wait
                return
            if not self.set_running_or_notify_cancel():
                return
            exc = handle.exception
            if exc is not None:
                self.set_exception(exc)
            else:
                self.set_result(handle.get())
        except BaseException:  # never a reason to lose a worker; the future is stuck, say so
            logger.exception("dftracer.utils: completing the future of task %r failed", handle.name)


class RuntimeExecutor(cf.ThreadPoolExecutor):
    """``concurrent.futures.Executor`` over a :class:`~dftracer.utils.Runtime`.

    Example::

        with dft.Runtime() as rt:
            ex = rt.executor()
            futures = [ex.submit(parse, p) for p in paths]
            for f in concurrent.futures.as_completed(futures):
                print(f.result())
            result = await loop.run_in_executor(ex, parse, path)   # from asyncio code
    """

    def __init__(self, runtime: "Runtime") -> None:
        # Sets the attributes code may read (_max_workers); starts nothing.
        super().__init__(max_workers=max(runtime.threads, 1), thread_name_prefix="dftracer-runtime")
        self._runtime = runtime
        self._cond = threading.Condition()
        self._shutdown = False
        self._submitting = 0
        # Futures handed out and not finished: what shutdown() waits for or
        # cancels. Only pending ones, so it never grows past the work in flight.
        self._pending: Set[_RuntimeFuture[Any]] = set()

    @property
    def runtime(self) -> "Runtime":
        return self._runtime

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> "cf.Future[T]":
        """Runs ``fn(*args, **kwargs)`` on the runtime; returns its Future.

        Every keyword goes to ``fn`` (unlike :meth:`Runtime.submit`, which
        takes ``name=``). Waits while the runtime's ``max_pending`` tasks are
        pending. Raises RuntimeError after :meth:`shutdown`.
        """
        with self._cond:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._submitting += 1
        try:
            # Not under the lock: this may wait for a max_pending slot, and
            # the done callbacks that free slots take the lock.
            handle: Optional[TaskHandle[T]] = self._runtime._native.submit_python(fn, args, kwargs, None)
            if handle is None:
                raise TypeError(f"submit() takes a callable, not {type(fn).__name__}")
            future = _RuntimeFuture(handle)
            with self._cond:
                self._pending.add(future)
        finally:
            with self._cond:
                self._submitting -= 1
                self._cond.notify_all()
        handle.add_done_callback(lambda h: self._finished(future, h))
        return future

    def _finished(self, future: _RuntimeFuture[Any], handle: TaskHandle[Any]) -> None:
        future._settle(handle)
        with self._cond:
            self._pending.discard(future)
            if not self._pending:
                self._cond.notify_all()

    def map(
        self,
        fn: Callable[..., T],
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
        buffersize: Optional[int] = None,
    ) -> Iterator[T]:
        """As ``Executor.map``: results in order, each raised or returned when
        its turn comes; ``timeout`` seconds from this call.

        Without ``buffersize`` every item is submitted at once (as Python
        3.11's executors do). With it, at most ``buffersize`` futures are
        pending and the input is read as results are taken (Python 3.14's
        ``buffersize``). ``chunksize`` is accepted and ignored, as
        ``ThreadPoolExecutor`` does; :meth:`Runtime.map` runs chunks.
        """
        if buffersize is None:
            return cf.Executor.map(self, fn, *iterables, timeout=timeout, chunksize=chunksize)
        if isinstance(buffersize, bool) or not isinstance(buffersize, int) or buffersize < 1:
            raise ValueError(f"buffersize must be an int >= 1, got {buffersize!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        args_iter = zip(*iterables)
        pending: Deque["cf.Future[T]"] = collections.deque(
            self.submit(fn, *args) for args in _take(args_iter, buffersize)
        )
        return self._buffered_results(fn, args_iter, pending, deadline)

    def _buffered_results(
        self,
        fn: Callable[..., T],
        args_iter: Iterator[Any],
        pending: Deque["cf.Future[T]"],
        deadline: Optional[float],
    ) -> Iterator[T]:
        try:
            while pending:
                head = pending.popleft()
                for args in _take(args_iter, 1):
                    pending.append(self.submit(fn, *args))
                yield head.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
        finally:
            for f in pending:
                f.cancel()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stops taking work. ``cancel_futures=True`` cancels the futures
        whose tasks have not started; ``wait=True`` waits for the others.
        The runtime itself keeps running."""
        with self._cond:
            self._shutdown = True
            pending = list(self._pending)
        if cancel_futures:
            for f in pending:
                f.cancel()
        if wait:
            with self._cond:
                while self._pending or self._submitting:
                    self._cond.wait()

    def __repr__(self) -> str:
        state = " (shut down)" if self._shutdown else ""
        return f"<RuntimeExecutor of {self._runtime!r}{state}>"


def _take(it: Iterator[Any], n: int) -> Iterator[Any]:
    for _, item in zip(range(n), it):
        yield item
