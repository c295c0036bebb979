"""asyncio interop: ``await handle`` from any event loop.

Awaiting a :class:`~dftracer.utils.TaskHandle` registers a done callback on
the task (no thread waits per await); when the task finishes, the callback
hands the outcome to the awaiting loop with ``loop.call_soon_threadsafe``.
So it works from any loop, from several loops in several threads at once,
and with ``asyncio.gather``, ``asyncio.wait_for`` and ``asyncio.as_completed``.

Cancelling the awaiting coroutine (a timeout in ``wait_for``, a cancelled
``gather``) does not cancel the task: the task runs on and its result is
dropped. To cancel the task too, await :meth:`TaskHandle.get_async` with
``cancel_task=True``::

    h = rt.submit(crunch, data)
    try:
        result = await asyncio.wait_for(h.get_async(cancel_task=True), timeout=5)
    except TimeoutError:
        ...   # h was cancelled if it had not started; a running one was asked to stop
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Generator, TypeVar

if TYPE_CHECKING:
    from dftracer.utils.task_handle import TaskHandle

__all__ = ["await_handle", "get_async"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _settle(fut: "asyncio.Future[Any]", handle: "TaskHandle[Any]") -> None:
    """On the loop's thread: copies the task's outcome into ``fut``."""
    if fut.done():  # the awaiting side was cancelled meanwhile
        return
    if handle.cancelled():
        fut.cancel()  # as asyncio.wrap_future does for a cancelled source
        return
    exc = handle.exception
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(handle.get())


def _bridge(handle: "TaskHandle[T]", loop: asyncio.AbstractEventLoop) -> "asyncio.Future[T]":
    fut: "asyncio.Future[T]" = loop.create_future()

    def on_done(h: "TaskHandle[Any]") -> None:  # on the thread that finished the task
        try:
            loop.call_soon_threadsafe(_settle, fut, h)
        except RuntimeError:  # the loop was closed: nobody is awaiting any more
            logger.debug("dftracer.utils: task %r finished after its event loop closed", h.name)

    handle.add_done_callback(on_done)
    return fut


def await_handle(handle: "TaskHandle[T]") -> Generator[Any, None, T]:
    """The body of ``TaskHandle.__await__``."""
    if handle.done():  # no round trip through the loop
        return handle.get()
    fut = _bridge(handle, asyncio.get_running_loop())
    return (yield from fut.__await__())


async def get_async(handle: "TaskHandle[T]", cancel_task: bool = False) -> T:
    """The body of ``TaskHandle.get_async``."""
    try:
        return await handle
    except asyncio.CancelledError:
        if cancel_task:
            handle.cancel()
        raise
