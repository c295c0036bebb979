"""dft.as_completed and dft.wait: the concurrent.futures contract over task
handles (finished first, completion order, duplicates once, timeouts,
return_when), on the engine's completion queue from any finishing thread."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import pytest

import dftracer.utils as dft


@pytest.fixture
def rt4():
    """Four workers: room for three blocked tasks and one more."""
    runtime = dft.Runtime(threads=4, io_threads=1)
    yield runtime
    runtime.shutdown(wait=False)


def test_constants_are_the_concurrent_futures_ones():
    assert dft.FIRST_COMPLETED == cf.FIRST_COMPLETED
    assert dft.FIRST_EXCEPTION == cf.FIRST_EXCEPTION
    assert dft.ALL_COMPLETED == cf.ALL_COMPLETED


def test_as_completed_yields_finished_handles_first_then_in_completion_order(rt4):
    rt = rt4
    gates = [threading.Event() for _ in range(3)]
    done_already = rt.submit(lambda: "early")
    done_already.wait()
    waiting = [rt.submit(g.wait, 30) for g in gates]
    order = []
    it = dft.as_completed([*waiting, done_already])
    assert next(it) is done_already
    for i in (2, 0, 1):
        gates[i].set()
        order.append(next(it))
    assert order == [waiting[2], waiting[0], waiting[1]]
    with pytest.raises(StopIteration):
        next(it)


def test_as_completed_yields_a_duplicate_once(rt):
    h = rt.submit(lambda: 1)
    assert list(dft.as_completed([h, h, h])) == [h]


def test_as_completed_raises_timeout_with_tasks_left_running(rt):
    gate = threading.Event()
    quick = rt.submit(lambda: 1)
    stuck = rt.submit(gate.wait, 30)
    got = []
    with pytest.raises(cf.TimeoutError, match=r"1 \(of 2\) tasks unfinished"):
        for h in dft.as_completed([quick, stuck], timeout=0.2):
            got.append(h)
    assert got == [quick]
    assert not stuck.done()  # a timeout cancels nothing
    gate.set()
    assert stuck.get(timeout=30) is True


def test_as_completed_timeout_counts_from_the_call(rt):
    gate = threading.Event()
    stuck = rt.submit(gate.wait, 30)
    it = dft.as_completed([stuck], timeout=0.1)
    time.sleep(0.2)
    t0 = time.monotonic()
    with pytest.raises(cf.TimeoutError):
        next(it)
    assert time.monotonic() - t0 < 5  # it did not start a fresh 0.1 s, let alone wait forever
    gate.set()


def test_as_completed_covers_failed_cancelled_and_future_backed_handles(rt1):
    gate = threading.Event()
    blocker = rt1.submit(gate.wait, 30)
    failing = rt1.submit(lambda: 1 / 0)
    queued = rt1.submit(lambda: 2)
    assert queued.cancel()
    fut: cf.Future[int] = cf.Future()
    wrapped = dft.TaskHandle(future=fut, name="plain future")
    threading.Timer(0.05, fut.set_result, (7,)).start()
    threading.Timer(0.1, gate.set).start()
    seen = set(dft.as_completed([blocker, failing, queued, wrapped], timeout=30))
    assert seen == {blocker, failing, queued, wrapped}
    assert isinstance(failing.exception, ZeroDivisionError) and queued.cancelled() and wrapped.get() == 7


def test_as_completed_over_many_handles_finishing_on_many_threads():
    with dft.Runtime(threads=4, io_threads=2) as rt:
        handles = [rt.submit(time.sleep, 0.0001 * (i % 3)) for i in range(5000)]
        handles += [rt.submit_io(time.sleep, 0.0001) for _ in range(1000)]
        seen = list(dft.as_completed(handles, timeout=120))
        assert len(seen) == 6000 and set(seen) == set(handles)


def test_as_completed_sees_a_task_the_watchdog_timed_out():
    # The watchdog thread finishes this task; the queue must still be told.
    with dft.Runtime(threads=1, io_threads=1, watchdog_interval=10) as rt:
        rt.set_default_task_timeout(50)

        def spin():
            while not dft.cancelled():
                time.sleep(0.001)

        h = rt.submit(spin)
        assert list(dft.as_completed([h], timeout=30)) == [h]
        assert isinstance(h.exception, dft.TaskTimeoutError)


def test_as_completed_rejects_what_is_not_a_handle(rt):
    with pytest.raises(TypeError, match="TaskHandle"):
        dft.as_completed([rt.submit(lambda: 1), 5])  # type: ignore[list-item]


def test_wait_all_completed_returns_every_handle_done(rt):
    handles = [rt.submit(time.sleep, 0.01) for _ in range(6)]
    done, not_done = dft.wait(handles)
    assert done == set(handles) and not_done == set()


def test_wait_first_completed_returns_as_soon_as_one_finishes(rt):
    gate = threading.Event()
    quick = rt.submit(lambda: 1)
    stuck = rt.submit(gate.wait, 30)
    done, not_done = dft.wait([stuck, quick], return_when=dft.FIRST_COMPLETED, timeout=30)
    assert quick in done and stuck in not_done
    gate.set()


def test_wait_first_exception_returns_on_a_failure_else_waits_for_all(rt):
    gate = threading.Event()
    stuck = rt.submit(gate.wait, 30)
    failing = rt.submit(lambda: [][1])
    done, not_done = dft.wait([stuck, failing], return_when=dft.FIRST_EXCEPTION, timeout=30)
    assert failing in done and stuck in not_done
    gate.set()
    fine = [rt.submit(lambda: 1) for _ in range(3)]
    done, not_done = dft.wait(fine, return_when=dft.FIRST_EXCEPTION, timeout=30)
    assert done == set(fine) and not not_done


def test_wait_first_exception_does_not_count_a_cancelled_task(rt1):
    gate = threading.Event()
    blocker = rt1.submit(gate.wait, 30)
    queued = rt1.submit(lambda: 1)
    assert queued.cancel()
    done, not_done = dft.wait([blocker, queued], return_when=dft.FIRST_EXCEPTION, timeout=0.1)
    assert done == {queued} and not_done == {blocker}
    gate.set()


def test_wait_timeout_returns_what_finished_without_raising(rt):
    gate = threading.Event()
    stuck = rt.submit(gate.wait, 30)
    quick = rt.submit(lambda: 1)
    quick.wait()
    done, not_done = dft.wait([stuck, quick], timeout=0.1)
    assert done == {quick} and not_done == {stuck}
    gate.set()


def test_wait_rejects_an_unknown_return_when(rt):
    with pytest.raises(ValueError, match="return_when"):
        dft.wait([rt.submit(lambda: 1)], return_when="SOMETIMES")


def test_wait_is_a_named_tuple_of_done_and_not_done(rt):
    result = dft.wait([rt.submit(lambda: 1)])
    assert isinstance(result, dft.DoneAndNotDone) and len(result.done) == 1 and result.not_done == set()


def test_as_completed_from_several_threads_at_once():
    rt = dft.Runtime(threads=20, io_threads=1)
    gates = [threading.Event() for _ in range(20)]
    handles = [rt.submit(g.wait, 30) for g in gates]
    results = {}

    def consume(k):
        results[k] = list(dft.as_completed(handles, timeout=60))

    consumers = [threading.Thread(target=consume, args=(k,)) for k in range(4)]
    for t in consumers:
        t.start()
    for g in gates:
        g.set()
    for t in consumers:
        t.join(60)
    rt.shutdown()
    assert all(set(v) == set(handles) for v in results.values()) and len(results) == 4
