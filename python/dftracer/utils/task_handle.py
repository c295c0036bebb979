"""TaskHandle: the result of :meth:`Runtime.submit`.

A handle wraps either the native handle of a task on the runtime's C++ pool
or a :class:`concurrent.futures.Future`, and offers the same small API over
both: ``get``, ``wait``, ``done``, ``exception``, ``cancel``,
``add_done_callback``, ``name`` and ``task_id``; ``await handle`` works in
any asyncio event loop (see :mod:`dftracer.utils.aio`).
"""

from __future__ import annotations

import logging
import sys
from concurrent.futures import Future
from concurrent.futures import TimeoutError as _FuturesTimeout
from typing import Any, Callable, Generator, Generic, Optional, TypeVar, cast

from dftracer.utils import _core, aio
from dftracer.utils._core import NOT_READY as _NOT_READY
from dftracer.utils._core import _NativeTaskHandle

__all__ = ["TaskHandle"]

logger = logging.getLogger(__name__)

if sys.version_info >= (3, 11):
    _WaitTimeout = TimeoutError
else:  # pragma: no cover - 3.9, 3.10

    class _WaitTimeout(_FuturesTimeout, TimeoutError):
        """A wait gave up: caught by ``except TimeoutError`` and by ``except
        concurrent.futures.TimeoutError`` (one class from 3.11 on, two before;
        the native handles raise the same kind)."""


# Covariant: a TaskHandle[int] is a TaskHandle[object] (handles only produce T).
T = TypeVar("T", covariant=True)


class TaskHandle(Generic[T]):
    """Unified handle for C++ pool tasks and ``concurrent.futures`` futures.

    Example::

        h = rt.submit(lambda: 42)
        result = h.get()   # 42
        h.wait()
        assert h.done()

    ``get()`` and ``wait()`` release the GIL while they block and can be
    interrupted with Ctrl-C. A failed task's ``get()`` re-raises the task's
    own exception object (same type, same traceback). Timeouts are in
    seconds, as in ``concurrent.futures``; a timeout raises ``TimeoutError``
    and does not cancel the task.
    """

    __slots__ = ("_native", "_future", "_name", "_task_id", "__weakref__")

    def __init__(
        self,
        native: Optional[_NativeTaskHandle] = None,
        future: Optional["Future[T]"] = None,
        name: str = "",
        task_id: int = -1,
    ) -> None:
        if (native is None) == (future is None):
            raise ValueError("TaskHandle wraps exactly one of a native handle or a concurrent.futures.Future")
        if native is not None and not isinstance(native, _NativeTaskHandle):
            raise TypeError(f"native must be a _NativeTaskHandle, not {type(native).__name__}")
        if future is not None and not isinstance(future, Future):
            raise TypeError(f"future must be a concurrent.futures.Future, not {type(future).__name__}")
        self._native = native
        self._future = future
        self._name = name
        self._task_id = task_id

    @property
    def name(self) -> str:
        """The task's name (given to ``submit`` or derived from the callable)."""
        if not self._name and self._native is not None:
            self._name = self._native.name
        return self._name

    @property
    def task_id(self) -> int:
        """The runtime's id for the task (unique, increasing); -1 for a bare Future."""
        if self._task_id == -1 and self._native is not None:
            self._task_id = self._native.task_id
        return self._task_id

    @property
    def state(self) -> str:
        """queued, running, completed, failed, cancelled or timed_out."""
        if self._native is not None:
            return self._native.state
        assert self._future is not None
        if self._future.cancelled():
            return "cancelled"
        if not self._future.done():
            return "running" if self._future.running() else "queued"
        return "failed" if self._future.exception() is not None else "completed"

    def get(self, timeout: Optional[float] = None) -> T:
        """Blocks until the task finishes and returns its result.

        Re-raises the task's exception; raises ``TimeoutError`` if
        ``timeout`` seconds pass first, ``concurrent.futures.CancelledError``
        for a cancelled task. The result is not moved out: calling ``get()``
        again returns the same object.
        """
        native = self._native
        if native is not None:
            # Fast path for a finished success (a plain C method); anything
            # else, waiting, errors, cancellation, goes through result().
            done = native._completed_result()
            if done is not _NOT_READY:
                return cast(T, done)
            result: T = native.result(timeout)
            return result
        assert self._future is not None
        try:
            return self._future.result(timeout)
        except _FuturesTimeout as e:
            if isinstance(e, TimeoutError):
                raise
            raise _WaitTimeout(f"task {self.name!r} did not finish in time") from None

    def wait(self, timeout: Optional[float] = None) -> None:
        """Blocks until the task finishes, like :meth:`get` without the value.

        A failed task's exception is raised here too.
        """
        self.get(timeout)

    def done(self) -> bool:
        """True once the task completed, failed or was cancelled."""
        if self._native is not None:
            return self._native.done()
        assert self._future is not None
        return self._future.done()

    @property
    def exception(self) -> Optional[BaseException]:
        """The exception of a failed task; None while running or on success."""
        if self._native is not None:
            exc: Optional[BaseException] = self._native.exception()
            return exc
        assert self._future is not None
        if not self._future.done() or self._future.cancelled():
            return None
        return self._future.exception()

    def cancel(self) -> bool:
        """Cancels the task if it has not started: True if it will never run.

        A running task is only asked to stop: it can check
        :func:`dftracer.utils.cancelled` and return early.
        """
        if self._native is not None:
            return self._native.cancel()
        assert self._future is not None
        return self._future.cancel()

    def cancelled(self) -> bool:
        """True if the task was cancelled before it ran."""
        if self._native is not None:
            return self._native.cancelled()
        assert self._future is not None
        return self._future.cancelled()

    def add_done_callback(self, fn: Callable[["TaskHandle[T]"], object]) -> None:
        """Calls ``fn(handle)`` once, after the task completed, failed, timed
        out or was cancelled; at once (on this thread) if it already has.

        No thread waits for it: the thread that finishes the task calls it,
        holding the GIL (a runtime worker; the thread that cancels a queued
        task; a compute worker when the watchdog times a task out), so keep
        it short. An exception raised by ``fn`` is logged (logger
        ``dftracer.utils.task_handle``) and never affects the task or other
        callbacks. Several callbacks on one task run in no fixed order. It
        is never called once the interpreter has started exiting.

        Example::

            h = rt.submit(parse, path)
            h.add_done_callback(lambda h: print(h.name, h.state))
        """
        if not callable(fn):
            raise TypeError(f"add_done_callback() takes a callable, not {type(fn).__name__}")

        def call(_: object) -> None:
            try:
                fn(self)
            except BaseException:
                logger.exception("dftracer.utils done callback %r raised for task %r", fn, self.name)

        if self._native is not None:
            self._native.add_done_callback(call)
        else:
            assert self._future is not None
            self._future.add_done_callback(call)

    def __await__(self) -> Generator[Any, None, T]:
        """``result = await handle``: waits without blocking the event loop.

        Raises the task's exception, or ``asyncio.CancelledError`` for a
        cancelled task. Cancelling the awaiting coroutine leaves the task
        running; use :meth:`get_async` with ``cancel_task=True`` to cancel
        it as well.
        """
        return aio.await_handle(self)

    async def get_async(self, *, cancel_task: bool = False) -> T:
        """``await handle``, and with ``cancel_task=True`` cancelling the
        awaiting coroutine (``asyncio.wait_for`` timing out, say) also
        cancels the task: at once if it has not started, cooperatively
        (:func:`dftracer.utils.cancelled`) if it runs.

        Example::

            result = await asyncio.wait_for(h.get_async(cancel_task=True), timeout=5)
        """
        return await aio.get_async(self, cancel_task)

    @property
    def native(self) -> Optional[_NativeTaskHandle]:
        """The wrapped native handle, if any."""
        return self._native

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskHandle):
            return NotImplemented
        if self._native is not None:
            return other._native is not None and self._native == other._native
        return other._future is not None and self._future is other._future

    def __hash__(self) -> int:
        return hash(self._native) if self._native is not None else id(self._future)

    def __repr__(self) -> str:
        return f"<TaskHandle id={self.task_id} name={self.name!r} state={self.state}>"


# submit() builds handles in C++ (without running __init__'s checks).
_core.register_task_handle_type(TaskHandle)
