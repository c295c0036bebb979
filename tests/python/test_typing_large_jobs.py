"""Static typing of the large-job API (checked by ``python -m mypy``, which
covers this file, and run by pytest so it stays executable): result types
carry through map, as_completed, wait, await, the executor and try_submit."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import sys
from typing import Any, Iterator, List, Set

if sys.version_info >= (3, 11):
    from typing import assert_type
else:  # pragma: no cover
    from typing_extensions import assert_type

import dftracer.utils as dft
from dftracer.utils import MapIterator, TaskHandle


def add_one(x: int) -> int:
    return x + 1


def join(a: str, b: int) -> str:
    return a * b


def test_map_carries_the_result_type() -> None:
    with dft.Runtime(threads=1, io_threads=1) as rt:
        assert_type(rt.map(add_one, [1, 2]), MapIterator[int])
        assert_type(rt.map(add_one, [1, 2], return_handles=True), MapIterator[TaskHandle[int]])
        assert_type(rt.map(join, ["a"], [2]), MapIterator[str])
        assert_type(rt.map(add_one, range(3), chunksize=2, ordered=False, name=str), MapIterator[int])
        assert list(rt.map(join, ["a", "b"], [2, 1])) == ["aa", "b"]
        assert_type(rt.map(lambda a, b, c, d: a, [1], [2], [3], [4]), MapIterator[Any])
        rt.map(add_one, ["x"])  # type: ignore[arg-type]


def test_completion_helpers_are_typed() -> None:
    with dft.Runtime(threads=1, io_threads=1) as rt:
        handles: List[TaskHandle[int]] = [rt.submit(add_one, i) for i in range(3)]
        assert_type(dft.as_completed(handles), Iterator[TaskHandle[int]])
        done, not_done = dft.wait(handles, return_when=dft.FIRST_COMPLETED)
        assert_type(done, Set[TaskHandle[object]])
        assert_type(rt.try_submit(add_one, 1), TaskHandle[int])
        assert_type(rt.try_submit(add_one, 1, name="one"), TaskHandle[int])
        assert_type(rt.try_submit(add_one, 1, timeout=1.0), TaskHandle[int])
        assert_type(rt.pending, int)
        rt.try_submit(add_one, "1")  # type: ignore[call-overload]
        handles[0].add_done_callback(lambda h: h.get())


def test_await_executor_and_progress_are_typed() -> None:
    with dft.Runtime(threads=1, io_threads=1) as rt:
        ex = rt.executor()
        assert isinstance(ex, cf.Executor)
        assert_type(ex.submit(add_one, 1), "cf.Future[int]")
        assert_type(dft.progress([1, 2], file=sys.stderr), Iterator[int])

        async def main() -> int:
            value = await rt.submit(add_one, 41)
            assert_type(value, int)
            return value

        assert asyncio.run(main()) == 42
