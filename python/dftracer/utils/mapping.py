"""Runtime.map: a lazy, bounded map over any number of items.

The input is pulled one item at a time and at most ``buffersize`` tasks
are in flight (submitted, and their result not yet handed out), so an
iterator of ten million paths is never materialised and memory stays flat.
Results come out in input order (``ordered=True``) or as tasks finish
(``ordered=False``, built on the engine's completion queue).

Errors: in input order, a failed item raises its own exception (same object,
same traceback) when its turn comes, with a note naming the item's index and
task; unordered, when that item comes out. Either way the map stops there
and cancels what has not started. ``return_handles=True`` yields the handles
instead and never raises for an item.

Closing (``close()``, leaving a ``with`` block, breaking out of a ``for``
loop over the map itself, or dropping the iterator) cancels the tasks that
have not started, asks running ones to stop (:func:`dftracer.utils.cancelled`)
and waits for nothing.

``chunksize > 1`` runs that many items per task: far less overhead per item
for tiny items; results and errors still come out per item.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import itertools
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Deque,
    Dict,
    Generic,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from dftracer.utils import _core
from dftracer.utils.task_handle import TaskHandle

if TYPE_CHECKING:
    from dftracer.utils.runtime import Runtime

__all__ = ["MapIterator", "NameSpec"]

T = TypeVar("T")

#: ``name=`` of :meth:`Runtime.map`: one name for every task, or a callable
#: given each item's arguments (``name(item)``, or ``name(a, b)`` for several
#: iterables) that returns its task's name.
NameSpec = Union[str, Callable[..., str], None]


class MapIterator(Generic[T], Iterator[T]):
    """What :meth:`Runtime.map` returns: an iterator of results (or of
    handles with ``return_handles=True``).

    Use it as a context manager, or call :meth:`close`, to stop early
    deterministically; a ``for`` loop over ``rt.map(...)`` that breaks
    closes it too (the iterator is dropped at once).

    Example::

        with rt.map(parse, paths, buffersize=64) as results:
            for r in results:
                if r.bad:
                    break        # cancels what has not started
    """

    def __init__(self, gen: Iterator[T], runtime: "Runtime", total: Optional[int]) -> None:
        self._gen = gen
        self._runtime = runtime
        self._total = total

    @property
    def runtime(self) -> "Runtime":
        """The runtime the tasks run on."""
        return self._runtime

    @property
    def total(self) -> Optional[int]:
        """How many items the map has, when the inputs have a length (else None)."""
        return self._total

    def __iter__(self) -> "MapIterator[T]":
        return self

    def __next__(self) -> T:
        return next(self._gen)

    def close(self) -> None:
        """Cancels the tasks that have not started and stops; waits for nothing."""
        close = getattr(self._gen, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "MapIterator[T]":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_val: Optional[BaseException],
        exc_tb: Optional[TracebackType],
    ) -> None:
        self.close()


def _length(iterables: Sequence[Iterable[Any]]) -> Optional[int]:
    try:
        return min(len(it) for it in iterables)  # type: ignore[arg-type]
    except TypeError:
        return None


def _add_note(exc: BaseException, note: str) -> None:
    add_note = getattr(exc, "add_note", None)  # 3.11+
    if add_note is not None:
        add_note(note)
    else:  # shown by 3.11+ tracebacks only, but readable everywhere
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]


# Items a chunk runs between two looks at its cancel token.
_CANCEL_CHECK_EVERY = 64


def _run_chunk(fn: Callable[..., Any], chunk: List[Any], out: List[Any], star: bool) -> List[Any]:
    """One task of a chunked map: appends each item's result to ``out``, so
    the results before a failing item survive the failure. Stops (raising
    CancelledError) when the task is asked to stop, e.g. by a shutdown."""
    append = out.append
    cancelled = _core.current_task_cancelled
    for start in range(0, len(chunk), _CANCEL_CHECK_EVERY):
        if cancelled():
            raise cf.CancelledError(f"stopped after {len(out)} of {len(chunk)} items: the task was cancelled")
        if star:
            for args in chunk[start : start + _CANCEL_CHECK_EVERY]:
                append(fn(*args))
        else:
            for item in chunk[start : start + _CANCEL_CHECK_EVERY]:
                append(fn(item))
    return out


# Shared by every submit: submit_python keeps no empty kwargs dict, so this
# one is never stored or changed.
_NO_KWARGS: Dict[str, Any] = {}


class _Entry:
    """One task in flight: the index of its first item, its handle (and the
    native one, for the hot path), and for a chunk the list its results land
    in."""

    __slots__ = ("index", "handle", "native", "out")

    def __init__(self, index: int, handle: TaskHandle[Any], out: Optional[List[Any]]) -> None:
        self.index = index
        self.handle = handle
        native = handle.native
        assert native is not None
        self.native = native
        self.out = out


class _Mapper:
    """Pulls items, submits tasks, and turns finished entries into results."""

    def __init__(
        self,
        runtime: "Runtime",
        fn: Callable[..., Any],
        iterables: Sequence[Iterable[Any]],
        chunksize: int,
        name: NameSpec,
    ) -> None:
        self._native = runtime._native
        self._fn = fn
        self._star = len(iterables) != 1
        self._items: Iterator[Any] = iter(iterables[0]) if not self._star else zip(*iterables)
        self._chunksize = chunksize
        self._name = name
        self._base_name = name if isinstance(name, str) else _core.derive_task_name(fn)
        self._next_index = 0
        self.exhausted = False

    def _item_name(self, item: Any) -> Optional[str]:
        name = self._name
        if name is None or isinstance(name, str):
            return name
        label = name(*item) if self._star else name(item)
        if not isinstance(label, str):
            raise TypeError(f"name= callable must return a str, not {type(label).__name__}")
        return label

    def submit_next(self) -> Optional[_Entry]:
        """Submits the next item (or chunk); None once the input is exhausted."""
        if self.exhausted:
            return None
        index = self._next_index
        if self._chunksize == 1:
            try:
                item = next(self._items)
            except StopIteration:
                self.exhausted = True
                return None
            args = item if self._star else (item,)
            handle: TaskHandle[Any] = self._native.submit_python(self._fn, args, _NO_KWARGS, self._item_name(item))
            self._next_index = index + 1
            return _Entry(index, handle, None)
        chunk = list(itertools.islice(self._items, self._chunksize))
        if len(chunk) < self._chunksize:
            self.exhausted = True
            if not chunk:
                return None
        first = self._item_name(chunk[0]) if self._name is not None else self._base_name
        label = f"{first} (+{len(chunk) - 1} more)" if len(chunk) > 1 else first
        out: List[Any] = []
        handle = self._native.submit_python(_run_chunk, (self._fn, chunk, out, self._star), _NO_KWARGS, label)
        self._next_index = index + len(chunk)
        return _Entry(index, handle, out)


def _note(exc: BaseException, index: int, handle: TaskHandle[Any]) -> None:
    _add_note(exc, f"dftracer.utils Runtime.map: raised by item {index} (task {handle.name!r})")


def _result(entry: _Entry) -> Any:
    """The result of one item's task (waiting for it, GIL released; on a
    worker a still-queued task runs inline), or its exception with a note."""
    try:
        return entry.native.result(None)
    except BaseException as exc:
        if entry.native.done():  # the task's own error, not Ctrl-C during the wait
            _note(exc, entry.index, entry.handle)
        raise


def _chunk_results(entry: _Entry) -> Iterator[Any]:
    """The results of one chunk's task, raising at its failed item."""
    out = entry.out
    assert out is not None
    try:
        entry.native.result(None)
    except BaseException as exc:
        if not entry.native.done():
            raise
        yield from list(out)  # the items of the chunk before the failing one
        _note(exc, entry.index + len(out), entry.handle)
        raise
    yield from out


def _cancel_all(entries: Iterable[_Entry]) -> None:
    for e in entries:
        e.native.cancel()


def ordered_map(mapper: _Mapper, buffersize: int, return_handles: bool) -> Iterator[Any]:
    """Results in input order."""
    inflight: Deque[_Entry] = collections.deque()
    try:
        while len(inflight) < buffersize:
            entry = mapper.submit_next()
            if entry is None:
                break
            inflight.append(entry)
        while inflight:
            head = inflight[0]
            if head.out is None and not return_handles:
                value = _result(head)  # raises for a failed item
                inflight.popleft()
                entry = mapper.submit_next()  # keep the buffer full while the consumer works
                if entry is not None:
                    inflight.append(entry)
                yield value
                continue
            head.native.wait(None)  # GIL released; on a worker, may run the task inline
            inflight.popleft()
            entry = mapper.submit_next()
            if entry is not None:
                inflight.append(entry)
            if return_handles:
                yield head.handle
            else:
                yield from _chunk_results(head)
    finally:
        _cancel_all(inflight)


def unordered_map(mapper: _Mapper, buffersize: int, return_handles: bool) -> Iterator[Any]:
    """Results as their tasks finish."""
    queue = _core._CompletionQueue()
    inflight: Dict[int, _Entry] = {}
    keys = itertools.count()

    def submit() -> None:
        entry = mapper.submit_next()
        if entry is not None:
            key = next(keys)
            inflight[key] = entry
            queue.watch(entry.native, key)

    try:
        while len(inflight) < buffersize and not mapper.exhausted:
            submit()
        while inflight:
            key = queue.get(None)
            assert key is not None
            entry = inflight.pop(key)
            submit()
            if return_handles:
                yield entry.handle
            elif entry.out is None:
                yield _result(entry)
            else:
                yield from _chunk_results(entry)
    finally:
        _cancel_all(inflight.values())


def make_map(
    runtime: "Runtime",
    fn: Callable[..., Any],
    iterables: Tuple[Iterable[Any], ...],
    *,
    buffersize: Optional[int],
    ordered: bool,
    chunksize: int,
    name: NameSpec,
    return_handles: bool,
) -> MapIterator[Any]:
    """Validates the arguments and builds the iterator (see Runtime.map)."""
    if not callable(fn):
        raise TypeError(f"map() takes a callable, not {type(fn).__name__}")
    if not iterables:
        raise TypeError("map() needs at least one iterable")
    if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
        raise ValueError(f"chunksize must be an int >= 1, got {chunksize!r}")
    if return_handles and chunksize != 1:
        raise ValueError("return_handles=True needs chunksize=1: a chunk's task covers many items")
    if buffersize is None:
        buffersize = max(256, 8 * runtime.threads)
    elif isinstance(buffersize, bool) or not isinstance(buffersize, int) or buffersize < 1:
        raise ValueError(f"buffersize must be an int >= 1, got {buffersize!r}")
    if name is not None and not isinstance(name, str) and not callable(name):
        raise TypeError(f"name must be a str or a callable, not {type(name).__name__}")
    if runtime._is_unusable():
        raise RuntimeError("map() on a Runtime that is shut down")
    mapper = _Mapper(runtime, fn, iterables, chunksize, name)
    gen = (
        ordered_map(mapper, buffersize, return_handles)
        if ordered
        else unordered_map(mapper, buffersize, return_handles)
    )
    return MapIterator(gen, runtime, _length(iterables))
