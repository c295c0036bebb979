"""as_completed and wait over task handles, like ``concurrent.futures``.

Both are built on the engine's completion notification
(``_core._CompletionQueue``): each unfinished handle gets a node on its
task's awaiter list, the thread that finishes the task pushes it on a
lock-free queue and wakes the waiter. No thread per handle, no polling; the
finishing worker does not even take the GIL for it.

``return_when`` takes the same constants as ``concurrent.futures.wait``
(they are the very same strings, so either module's constants work).
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Set, TypeVar

from dftracer.utils import _core
from dftracer.utils.task_handle import TaskHandle

__all__ = ["ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_EXCEPTION", "DoneAndNotDone", "as_completed", "wait"]

T = TypeVar("T")

FIRST_COMPLETED = cf.FIRST_COMPLETED
FIRST_EXCEPTION = cf.FIRST_EXCEPTION
ALL_COMPLETED = cf.ALL_COMPLETED
_RETURN_WHEN = (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED)


class DoneAndNotDone(NamedTuple):
    """What :func:`wait` returns: ``done, not_done = dft.wait(handles)``."""

    done: Set[TaskHandle[object]]
    not_done: Set[TaskHandle[object]]


def _check_handle(h: object) -> TaskHandle[object]:
    if not isinstance(h, TaskHandle):
        raise TypeError(f"expected dftracer.utils.TaskHandle objects, got {type(h).__name__}")
    return h


def _watch(queue: _core._CompletionQueue, handle: TaskHandle[object], key: int) -> None:
    native = handle.native
    if native is not None:
        queue.watch(native, key)
    else:  # a handle over a concurrent.futures.Future
        future = handle._future
        assert future is not None
        future.add_done_callback(lambda _: queue.post(key))


def _failed(h: TaskHandle[object]) -> bool:
    return h.done() and not h.cancelled() and h.exception is not None


def _left(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def as_completed(handles: Iterable[TaskHandle[T]], timeout: Optional[float] = None) -> Iterator[TaskHandle[T]]:
    """Yields the handles as their tasks finish (completed, failed, timed out
    or cancelled): already finished ones first, then in completion order.

    Duplicates are yielded once. ``timeout`` (seconds) counts from this call;
    when it passes with handles unfinished, the iterator raises
    ``TimeoutError`` (which is ``concurrent.futures.TimeoutError``). The
    wait releases the GIL and Ctrl-C interrupts it. Breaking out early costs
    nothing: the tasks go on.

    Example::

        handles = [rt.submit(parse, p, name=p) for p in paths]
        for h in dft.as_completed(handles, timeout=30):
            print(h.name, h.get())
    """
    unique: List[TaskHandle[T]] = list(dict.fromkeys(handles))
    for h in unique:
        _check_handle(h)
    deadline = None if timeout is None else time.monotonic() + timeout
    return _as_completed(unique, deadline)


def _as_completed(unique: List[TaskHandle[T]], deadline: Optional[float]) -> Iterator[TaskHandle[T]]:
    pending: Dict[int, TaskHandle[T]] = {}
    for h in unique:
        if h.done():
            yield h
        else:
            pending[len(pending)] = h
    if not pending:
        return
    queue = _core._CompletionQueue()
    for k, h in pending.items():
        _watch(queue, h, k)
    total = len(unique)
    while pending:
        key = queue.get(_left(deadline))
        if key is None:
            raise cf.TimeoutError(f"{len(pending)} (of {total}) tasks unfinished")
        yield pending.pop(key)


def wait(
    handles: Iterable[TaskHandle[T]], timeout: Optional[float] = None, return_when: str = ALL_COMPLETED
) -> DoneAndNotDone:
    """Waits for the tasks of ``handles``, like ``concurrent.futures.wait``.

    Returns ``(done, not_done)``, two sets of handles, when ``return_when``
    is met or ``timeout`` seconds pass (no exception on timeout):

    - ``FIRST_COMPLETED``: any task finished;
    - ``FIRST_EXCEPTION``: any task failed or timed out (a cancelled task is
      not an exception), else all finished;
    - ``ALL_COMPLETED`` (default): all finished.

    Example::

        done, not_done = dft.wait(handles, timeout=60, return_when=dft.FIRST_EXCEPTION)
        for h in done:
            if h.exception is not None:
                print("failed:", h.name, h.exception)
    """
    if return_when not in _RETURN_WHEN:
        raise ValueError(f"return_when must be one of {', '.join(_RETURN_WHEN)}, not {return_when!r}")
    deadline = None if timeout is None else time.monotonic() + timeout
    all_handles: Set[TaskHandle[object]] = {_check_handle(h) for h in handles}
    done = {h for h in all_handles if h.done()}
    not_done = all_handles - done
    failed = any(_failed(h) for h in done)

    def satisfied() -> bool:
        if not not_done:
            return True
        if return_when == FIRST_COMPLETED:
            return bool(done)
        return return_when == FIRST_EXCEPTION and failed

    if satisfied():
        return DoneAndNotDone(done, not_done)
    queue = _core._CompletionQueue()
    by_key = dict(enumerate(not_done))
    for k, h in by_key.items():
        _watch(queue, h, k)
    key = queue.get(_left(deadline))
    while key is not None:
        h = by_key.pop(key)
        not_done.discard(h)
        done.add(h)
        failed = failed or _failed(h)
        # Take everything that finished meanwhile too, so `done` is complete.
        key = queue.get(0.0)
        if key is None:
            if satisfied():
                break
            key = queue.get(_left(deadline))
    return DoneAndNotDone(done, not_done)
