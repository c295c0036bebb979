"""await handle: in any event loop (two loops in two threads at once), with
gather / wait_for / as_completed; the loop keeps running while it waits;
cancelling the awaiting coroutine leaves the task alone unless asked."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
import time

import pytest

import dftracer.utils as dft


def test_await_returns_the_result_and_raises_the_tasks_exception(rt):
    err = ValueError("nope")

    def fail():
        raise err

    async def main():
        assert await rt.submit(lambda: 21 * 2) == 42
        with pytest.raises(ValueError) as info:
            await rt.submit(fail)
        assert info.value is err

    asyncio.run(main())


def test_await_an_already_finished_handle(rt):
    h = rt.submit(lambda: "x")
    h.wait()

    async def main():
        return await h

    assert asyncio.run(main()) == "x"


def test_the_loop_keeps_running_while_a_task_is_awaited(rt):
    gate = threading.Event()
    ticks = []

    async def ticker():
        for i in range(5):
            ticks.append(i)
            await asyncio.sleep(0.01)
        gate.set()  # the task can finish only once the loop ran the ticker

    async def main():
        h = rt.submit(gate.wait, 30)
        _, result = await asyncio.gather(ticker(), h)
        return result

    assert asyncio.run(main()) is True
    assert ticks == [0, 1, 2, 3, 4]


def test_gather_and_as_completed_over_handles(rt):
    async def main():
        handles = [rt.submit(lambda i=i: i * i) for i in range(50)]
        gathered = await asyncio.gather(*handles)
        assert gathered == [i * i for i in range(50)]
        seen = [await f for f in asyncio.as_completed([rt.submit(lambda i=i: i) for i in range(20)])]
        assert sorted(seen) == list(range(20))

    asyncio.run(main())


def test_wait_for_timeout_does_not_cancel_the_task(rt):
    gate = threading.Event()
    h = rt.submit(gate.wait, 30)

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(h, timeout=0.05)

    asyncio.run(main())
    assert not h.done() and not h.cancelled()
    gate.set()
    assert h.get(timeout=30) is True


def test_get_async_with_cancel_task_cancels_a_task_that_has_not_started(rt1):
    gate = threading.Event()
    blocker = rt1.submit(gate.wait, 30)
    queued = rt1.submit(lambda: "never")

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(queued.get_async(cancel_task=True), timeout=0.05)

    asyncio.run(main())
    assert queued.cancelled()
    gate.set()
    assert blocker.get(timeout=30) is True


def test_get_async_with_cancel_task_asks_a_running_task_to_stop(rt):
    started = threading.Event()

    def cooperative():
        started.set()
        while not dft.cancelled():
            time.sleep(0.001)
        return "stopped"

    h = rt.submit(cooperative)

    async def main():
        started.wait(30)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(h.get_async(cancel_task=True), timeout=0.05)

    asyncio.run(main())
    assert h.get(timeout=30) == "stopped"


def test_awaiting_a_cancelled_task_raises_cancelled_error(rt1):
    gate = threading.Event()
    rt1.submit(gate.wait, 30)
    queued = rt1.submit(lambda: 1)

    async def main():
        waiter = asyncio.ensure_future(queued.get_async())
        await asyncio.sleep(0.01)
        assert queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

    asyncio.run(main())
    gate.set()


def test_await_from_two_event_loops_in_two_threads(rt):
    results = {}
    errors = []

    def loop_thread(k):
        async def main():
            handles = [rt.submit(lambda i=i: (k, i)) for i in range(300)]
            return await asyncio.gather(*handles)

        try:
            results[k] = asyncio.run(main())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=loop_thread, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert results == {k: [(k, i) for i in range(300)] for k in range(2)}


def test_a_loop_closed_before_the_task_finishes_is_harmless(rt):
    gate = threading.Event()
    h = rt.submit(gate.wait, 30)

    async def main():
        task = asyncio.ensure_future(h.get_async())
        await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(main())  # the loop is closed when this returns
    gate.set()
    assert h.get(timeout=30) is True
    rt.wait_all()


def test_run_in_executor_with_the_runtime_executor(rt):
    async def main():
        loop = asyncio.get_running_loop()
        ex = rt.executor()
        return await asyncio.gather(*(loop.run_in_executor(ex, pow, 2, i) for i in range(10)))

    assert asyncio.run(main()) == [2**i for i in range(10)]


def test_await_a_future_backed_handle():
    fut: cf.Future[int] = cf.Future()
    h = dft.TaskHandle(future=fut)

    async def main():
        threading.Timer(0.02, fut.set_result, (9,)).start()
        return await h

    assert asyncio.run(main()) == 9
