"""Tasks that wait on other tasks never deadlock the pool, whatever its size:
nested get() on one thread, handles passed as arguments, many such parents at
once, and deep chains."""

from __future__ import annotations

import threading

import pytest

import dftracer.utils as dft


def index(filename):
    return f"index:{filename}"


def process(value):
    return f"process:{value}"


def process_handle(handle):
    return f"process:{handle.get()}"


def test_nested_get_with_one_thread_does_not_deadlock(rt1):
    def compose(filename):
        h1 = rt1.submit(index, filename)
        return rt1.submit(process, h1.get()).get()

    assert rt1.submit(compose, "trace").get(timeout=30) == "process:index:trace"


def test_task_receiving_a_handle_gets_it_with_one_thread(rt1):
    h1 = rt1.submit(index, "trace")
    assert rt1.submit(process_handle, h1).get(timeout=30) == "process:index:trace"


def test_handle_passed_to_a_task_submitted_before_its_producer(rt1):
    # The consumer runs first and blocks on a handle whose task is queued
    # behind it on the single worker.
    gate = threading.Event()
    box: dict[str, dft.TaskHandle[int]] = {}

    def consumer():
        gate.wait(10)
        return box["h"].get() * 2

    c = rt1.submit(consumer)
    box["h"] = rt1.submit(lambda: 21)
    gate.set()
    assert c.get(timeout=30) == 42


@pytest.mark.parametrize("pattern", ["resolve", "handle"])
def test_32_parents_at_once_on_one_thread_finish(rt1, pattern):
    def parent_resolve(i):
        h1 = rt1.submit(index, i)
        return rt1.submit(process, h1.get()).get()

    def parent_handle(i):
        h1 = rt1.submit(index, i)
        return rt1.submit(process_handle, h1).get()

    parent = parent_resolve if pattern == "resolve" else parent_handle
    parents = [rt1.submit(parent, i) for i in range(32)]
    assert [p.get(timeout=60) for p in parents] == [f"process:index:{i}" for i in range(32)]
    rt1.wait_all()
    progress = rt1.get_progress()
    assert progress["completed"] == 32 * 3 and progress["failed"] == 0


def test_32_parents_blocking_on_shared_handles_on_one_thread(rt1):
    shared = [rt1.submit(index, i) for i in range(4)]
    parents = [rt1.submit(lambda i=i: process_handle(shared[i % 4])) for i in range(32)]
    assert [p.get(timeout=60) for p in parents] == [f"process:index:{i % 4}" for i in range(32)]


def test_deep_chain_of_nested_gets_on_one_thread(rt1):
    def level(n):
        if n == 0:
            return 0
        return rt1.submit(level, n - 1).get() + 1

    assert rt1.submit(level, 60).get(timeout=60) == 60


def test_fan_out_fan_in_inside_a_task(rt1):
    def fan(n):
        handles = [rt1.submit(pow, i, 2) for i in range(n)]
        return sum(h.get() for h in handles)

    assert rt1.submit(fan, 100).get(timeout=30) == sum(i * i for i in range(100))


def test_nested_get_with_python_threads_one_does_not_deadlock():
    with dft.Runtime(threads=2, python_threads=1) as rt:

        def parent(i):
            return rt.submit(process, rt.submit(index, i).get()).get()

        parents = [rt.submit(parent, i) for i in range(16)]
        assert [p.get(timeout=60) for p in parents] == [f"process:index:{i}" for i in range(16)]


def test_nested_get_with_timeout_inside_a_task(rt1):
    def parent():
        return rt1.submit(index, "t").get(timeout=30)

    assert rt1.submit(parent).get(timeout=30) == "index:t"


def test_child_failure_propagates_through_the_parent(rt1):
    def child():
        raise KeyError("child failed")

    def parent():
        return rt1.submit(child, name="child").get()

    h = rt1.submit(parent, name="parent")
    with pytest.raises(KeyError, match="child failed"):
        h.get(timeout=30)
    rt1.wait_all()
    assert sorted(x.name for x in rt1.get_failed()) == ["child", "parent"]


def test_wait_all_covers_tasks_submitted_by_tasks(rt1):
    results = []

    def spawner(depth):
        results.append(depth)
        if depth < 5:
            for _ in range(2):
                rt1.submit(spawner, depth + 1)

    rt1.submit(spawner, 0)
    rt1.wait_all()
    assert len(results) == 2**6 - 1
