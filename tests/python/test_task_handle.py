"""TaskHandle over runtime tasks and over concurrent.futures.Future: get,
wait, done, exception, cancel, name, task_id, timeouts."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import pytest

import dftracer.utils as dft
from dftracer.utils import TaskHandle

# -- runtime handles ------------------------------------------------------------


def test_submit_returns_at_once_even_for_a_slow_task(rt):
    t0 = time.monotonic()
    h = rt.submit(time.sleep, 0.5)
    assert time.monotonic() - t0 < 0.25
    assert not h.done()
    h.get()
    assert h.done()


def test_task_ids_are_unique_and_increasing(rt):
    handles = [rt.submit(lambda: None) for _ in range(50)]
    ids = [h.task_id for h in handles]
    assert ids == sorted(ids) and len(set(ids)) == 50 and ids[0] >= 1
    rt.wait_all()


def test_state_goes_queued_running_completed(rt1):
    gate = threading.Event()
    started = threading.Event()

    def blocker():
        started.set()
        gate.wait(10)

    running = rt1.submit(blocker)
    queued = rt1.submit(lambda: 1)
    assert started.wait(10)
    assert running.state == "running"
    assert queued.state == "queued"
    gate.set()
    queued.get()
    assert (running.state, queued.state) == ("completed", "completed")


def test_kwargs_are_passed_to_the_callable(rt):
    def f(a, b=0, *, c=0):
        return (a, b, c)

    assert rt.submit(f, 1, b=2, c=3).get() == (1, 2, 3)
    assert rt.submit(f, 1, c=3, name="with-name").get() == (1, 0, 3)


def test_get_timeout_raises_timeout_error_and_task_still_completes(rt):
    gate = threading.Event()

    def slow():
        gate.wait(10)
        return "finished"

    h = rt.submit(slow)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        h.get(timeout=0.1)
    elapsed = time.monotonic() - t0
    assert 0.09 <= elapsed < 2.0
    assert not h.done() and not h.cancelled()
    gate.set()
    assert h.get(timeout=10) == "finished"


def test_wait_timeout_raises_timeout_error_and_task_still_completes(rt):
    gate = threading.Event()
    h = rt.submit(gate.wait, 10)
    with pytest.raises(TimeoutError):
        h.wait(timeout=0.05)
    gate.set()
    h.wait(timeout=10)
    assert h.get() is True


def test_timeout_error_is_the_concurrent_futures_one(rt):
    gate = threading.Event()
    h = rt.submit(gate.wait, 10)
    with pytest.raises(cf.TimeoutError):
        h.get(timeout=0.01)
    gate.set()
    h.get()


def test_zero_timeout_polls(rt):
    gate = threading.Event()
    h = rt.submit(gate.wait, 10)
    with pytest.raises(TimeoutError):
        h.get(timeout=0)
    gate.set()
    h.get()
    assert h.get(timeout=0) is True


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan")])
def test_negative_or_nan_timeout_is_rejected(rt, bad):
    h = rt.submit(lambda: 1)
    with pytest.raises(ValueError):
        h.get(timeout=bad)
    assert h.get() == 1


def test_cancel_before_start_makes_get_raise_cancelled_error(rt1):
    gate = threading.Event()
    blocker = rt1.submit(gate.wait, 10)
    queued = rt1.submit(lambda: "never")
    assert queued.cancel() is True
    assert queued.cancelled() and queued.done()
    assert queued.state == "cancelled"
    with pytest.raises(cf.CancelledError):
        queued.get()
    with pytest.raises(cf.CancelledError):
        queued.wait()
    assert queued.exception is None
    gate.set()
    blocker.get()


def test_cancel_of_running_task_returns_false_and_sets_its_token(rt1):
    started = threading.Event()

    def cooperative():
        started.set()
        deadline = time.monotonic() + 10
        while not dft.cancelled() and time.monotonic() < deadline:
            time.sleep(0.005)
        return "stopped early" if dft.cancelled() else "ran out"

    h = rt1.submit(cooperative)
    assert started.wait(10)
    assert h.cancel() is False
    assert h.get(timeout=10) == "stopped early"
    assert not h.cancelled()


def test_cancel_of_finished_task_returns_false(rt):
    h = rt.submit(lambda: 1)
    h.get()
    assert h.cancel() is False
    assert h.get() == 1


def test_cancelled_outside_a_task_is_false():
    assert dft.cancelled() is False


def test_handles_are_hashable_and_compare_by_task(rt):
    h = rt.submit(lambda: 1)
    same = rt.get_failed()  # empty; just exercising the API
    assert same == []
    assert h == h and hash(h) == hash(h)
    assert h != rt.submit(lambda: 1)
    assert len({h, h}) == 1
    rt.wait_all()


def test_repr_shows_id_name_and_state(rt):
    h = rt.submit(lambda: 1, name="shown")
    h.get()
    assert repr(h) == f"<TaskHandle id={h.task_id} name='shown' state=completed>"


def test_submitting_a_handle_of_this_runtime_passes_it_through(rt):
    h = rt.submit(lambda: 5)
    assert rt.submit(h) is h
    assert rt.submit(h.native).get() == 5


def test_submitting_a_handle_of_another_runtime_is_rejected(rt):
    with dft.Runtime(threads=1) as other:
        foreign = other.submit(lambda: 1)
        with pytest.raises(ValueError, match="another Runtime"):
            rt.submit(foreign)
        foreign.get()


# -- TaskHandle over concurrent.futures.Future ----------------------------------


def test_task_handle_wraps_a_pending_future():
    fut: cf.Future[int] = cf.Future()
    h = TaskHandle(future=fut, name="external")
    assert (h.name, h.task_id, h.done(), h.state) == ("external", -1, False, "queued")
    with pytest.raises(TimeoutError):
        h.get(timeout=0.01)
    fut.set_result(3)
    assert h.done() and h.get() == 3 and h.exception is None and h.state == "completed"
    h.wait()


def test_task_handle_over_future_reraises_its_exception():
    fut: cf.Future[int] = cf.Future()
    h = TaskHandle(future=fut, name="external")
    err = KeyError("missing")
    fut.set_exception(err)
    with pytest.raises(KeyError) as info:
        h.get()
    assert info.value is err and h.exception is err and h.state == "failed"


def test_task_handle_over_thread_pool_future():
    with cf.ThreadPoolExecutor(1) as pool:
        h = TaskHandle(future=pool.submit(pow, 2, 10), name="pow", task_id=7)
        assert h.get(timeout=10) == 1024
        assert h.task_id == 7


def test_task_handle_over_cancelled_future():
    fut: cf.Future[int] = cf.Future()
    h = TaskHandle(future=fut)
    assert h.cancel() and h.cancelled() and h.state == "cancelled"
    with pytest.raises(cf.CancelledError):
        h.get()
    assert h.exception is None


def test_runtime_wait_and_submit_accept_a_future_handle(rt):
    fut: cf.Future[str] = cf.Future()
    fut.set_result("ok")
    h = TaskHandle(future=fut)
    assert rt.submit(h) is h
    rt.wait(h)


def test_task_handle_future_can_be_passed_to_a_task(rt):
    fut: cf.Future[int] = cf.Future()
    h = TaskHandle(future=fut)
    consumer = rt.submit(lambda handle: handle.get(timeout=10) + 1, h)
    time.sleep(0.05)
    fut.set_result(41)
    assert consumer.get(timeout=10) == 42


def test_task_handle_needs_exactly_one_source():
    with pytest.raises(ValueError):
        TaskHandle()
    fut: cf.Future[int] = cf.Future()
    with dft.Runtime(threads=1) as rt:
        native = rt.submit(lambda: 1).native
        with pytest.raises(ValueError):
            TaskHandle(native=native, future=fut)
        assert TaskHandle(native=native).get() == 1


def test_task_handle_rejects_wrong_source_types():
    with pytest.raises(TypeError, match="Future"):
        TaskHandle(future=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="_NativeTaskHandle"):
        TaskHandle(native="nope")  # type: ignore[arg-type]


def test_task_handle_over_native_takes_name_and_id_from_it(rt):
    h = rt.submit(lambda: 1, name="n")
    wrapped: TaskHandle[int] = TaskHandle(native=h.native)
    assert wrapped.name == "n" and wrapped.task_id == h.task_id and wrapped == h
    rt.wait_all()


def test_comparing_handles_of_different_kinds_never_raises(rt):
    fut: cf.Future[int] = cf.Future()
    native_backed = rt.submit(lambda: 1)
    future_backed = TaskHandle(future=fut)
    assert native_backed != future_backed and future_backed != native_backed
    assert native_backed != 1 and native_backed.native != None  # noqa: E711
    assert native_backed.native != "x"
    assert native_backed.native == TaskHandle(native=native_backed.native).native
    assert future_backed == TaskHandle(future=fut)
    rt.wait_all()
