"""Nothing grows without bound: the runtime keeps no list of handles, results
are freed with their last handle, callables and arguments are freed once the
task ran, and Python-side memory stays flat over many tasks."""

from __future__ import annotations

import gc
import threading
import tracemalloc
import weakref

import pytest

import dftracer.utils as dft


class Payload:
    pass


def make_payload():
    return Payload()


def test_handles_and_results_are_freed_after_100k_tasks(rt):
    handles = [rt.submit(make_payload) for _ in range(100_000)]
    rt.wait_all()
    handle_refs = [weakref.ref(h) for h in handles[::1000]]
    result_refs = [weakref.ref(h.get()) for h in handles[::1000]]
    del handles
    gc.collect()
    assert all(r() is None for r in handle_refs)
    assert all(r() is None for r in result_refs)
    assert rt.get_progress()["completed"] == 100_000


def test_dropped_handles_are_freed_without_a_collection(rt):
    # Handles of submitted tasks are left out of the cyclic collector (it
    # would visit every live handle on each pass): they must still go the
    # moment the last reference does, with no gc.collect() in between.
    gc.disable()
    try:
        handles = [rt.submit(make_payload) for _ in range(1_000)]
        rt.wait_all()
        refs = [weakref.ref(h) for h in handles]
        results = [weakref.ref(h.get()) for h in handles]
        del handles
        assert all(r() is None for r in refs)
        assert all(r() is None for r in results)
    finally:
        gc.enable()


def test_a_handle_built_from_a_future_is_still_collected_in_a_cycle():
    from concurrent.futures import Future

    fut: Future[int] = Future()
    handle = dft.TaskHandle(future=fut)

    def keep(_f: object, h: object = handle) -> object:
        return h

    fut.add_done_callback(keep)  # handle -> future -> callback -> handle
    ref = weakref.ref(handle)
    del handle, fut, keep
    gc.collect()
    assert ref() is None


def test_callable_and_arguments_are_freed_once_the_task_ran(rt):
    arg = Payload()
    fn_owner = Payload()
    arg_ref, owner_ref = weakref.ref(arg), weakref.ref(fn_owner)

    def fn(a, owner=fn_owner):
        return 1

    h = rt.submit(fn, arg)
    h.get()
    del arg, fn_owner, fn
    gc.collect()
    # The handle is still alive, but it no longer keeps the call alive.
    assert arg_ref() is None and owner_ref() is None
    assert h.get() == 1


def test_cancelled_task_frees_its_arguments(rt1):
    gate = threading.Event()
    rt1.submit(gate.wait, 10)
    arg = Payload()
    ref = weakref.ref(arg)
    h = rt1.submit(lambda a: a, arg)
    assert h.cancel()
    del arg
    gate.set()
    rt1.wait_all()
    gc.collect()
    assert ref() is None


def test_fire_and_forget_results_are_not_kept(rt):
    refs = []

    def produce():
        p = Payload()
        refs.append(weakref.ref(p))
        return p

    for _ in range(1000):
        rt.submit(produce)
    rt.wait_all()
    gc.collect()
    assert len(refs) == 1000 and all(r() is None for r in refs)


def test_failed_task_exception_is_freed_after_clear_failed(rt):
    refs = []

    def fails():
        e = ValueError("x")
        refs.append(weakref.ref(e))
        raise e

    for _ in range(100):
        rt.submit(fails)
    rt.wait_all()
    gc.collect()
    assert all(r() is not None for r in refs)  # get_failed() still holds them
    rt.clear_failed()
    rt.wait_all(raise_on_error=False)
    # take the pending raise_on_error report too, which also holds them
    with pytest.raises(RuntimeError):
        rt.wait_all(raise_on_error=True)
    gc.collect()
    assert all(r() is None for r in refs)


def test_python_memory_stays_flat_over_many_tasks(rt):
    def batch():
        for _ in range(20_000):
            rt.submit(make_payload)
        rt.wait_all()

    batch()  # warm up allocator pools and caches
    gc.collect()
    tracemalloc.start()
    try:
        batch()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(4):
            batch()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    print(f"traced Python memory growth over 80k tasks: {after - before} bytes")
    assert after - before < 256 * 1024


def test_progress_size_is_bounded_after_many_tasks():
    with dft.Runtime(threads=2, recent_tasks=64) as rt:
        for _ in range(30_000):
            rt.submit(make_payload)
        rt.wait_all()
        p = rt.get_progress()
    assert len(p["tasks"]) == 64
    assert p["total"] == 30_000
