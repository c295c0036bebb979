"""Runtime construction, sizes, bad input, the context manager, shutdown and
is_responsive."""

from __future__ import annotations

import os
import threading
import time

import pytest

import dftracer.utils as dft
from dftracer.utils import _core

# -- sizes ----------------------------------------------------------------------


def test_properties_report_the_sizes_in_use():
    with dft.Runtime(threads=3, io_threads=2, python_threads=1) as rt:
        assert (rt.threads, rt.io_threads, rt.python_threads) == (3, 2, 1)


def test_zero_sizes_are_resolved_automatically():
    with dft.Runtime() as rt:
        assert rt.threads == _core.default_thread_count() >= 1
        assert rt.io_threads == rt.threads  # 0: as many as the compute pool
        assert rt.python_threads == rt.threads  # 0: no cap beyond the workers


def test_threads_zero_follows_the_environment_variable(monkeypatch):
    monkeypatch.setenv("DFTRACER_UTILS_THREADS", "3")
    with dft.Runtime(threads=0, io_threads=1) as rt:
        assert rt.threads == 3


def test_progress_lists_one_worker_per_thread_compute_and_io_apart():
    with dft.Runtime(threads=3, io_threads=2) as rt:
        progress = rt.get_progress()
    compute = [w for w in progress["workers"] if not w["temporary"]]
    io = [w for w in progress["io_workers"] if not w["temporary"]]
    assert [w["pool"] for w in compute] == ["compute"] * 3
    assert [w["pool"] for w in io] == ["io"] * 2
    assert sorted(w["id"] for w in compute) == [0, 1, 2]
    assert sorted(w["id"] for w in io) == [0, 1]


def test_repr_shows_sizes_and_never_raises():
    with dft.Runtime(threads=2, io_threads=1, python_threads=1) as rt:
        assert repr(rt) == "<Runtime threads=2 io_threads=1 python_threads=1>"
    assert repr(rt) == "<Runtime threads=2 io_threads=1 python_threads=1 (shut down)>"
    abandoned = dft.Runtime(threads=1)
    abandoned._native.abandon()  # what the fork and exit hooks do
    assert repr(abandoned) == "<Runtime (unusable: its threads are gone)>"


# -- bad input ------------------------------------------------------------------


@pytest.mark.parametrize("arg", ["threads", "io_threads", "python_threads"])
def test_negative_thread_counts_raise_value_error(arg):
    with pytest.raises(ValueError, match=arg):
        dft.Runtime(**{arg: -1})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["4", 2.0, None, True])
def test_non_int_thread_counts_raise_type_error(value):
    with pytest.raises(TypeError, match="threads"):
        dft.Runtime(threads=value)


@pytest.mark.parametrize("name", [1, b"bytes", ["x"], 3.5])
def test_name_that_is_not_a_str_raises_type_error(rt, name):
    with pytest.raises(TypeError, match="name must be a str"):
        rt.submit(lambda: 1, name=name)
    assert rt.get_progress()["total"] == 0  # nothing was submitted


@pytest.mark.parametrize("obj, type_name", [(42, "int"), (None, "NoneType"), ("text", "str"), ([1], "list")])
def test_non_callable_raises_type_error_naming_its_type(rt, obj, type_name):
    with pytest.raises(TypeError, match=rf"\b{type_name}\b"):
        rt.submit(obj)


def test_submit_after_shutdown_raises_runtime_error_saying_shut_down():
    rt = dft.Runtime(threads=1)
    rt.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        rt.submit(lambda: 1)


def test_wait_all_from_inside_a_task_raises_instead_of_deadlocking(rt):
    def waits_for_everything():
        rt.wait_all()

    with pytest.raises(RuntimeError, match="wait for itself"):
        rt.submit(waits_for_everything).get(timeout=10)


def test_shutdown_from_inside_a_task_raises_instead_of_deadlocking(rt):
    with pytest.raises(RuntimeError, match="wait for itself"):
        rt.submit(rt.shutdown).get(timeout=10)
    assert rt.submit(lambda: "still up").get(timeout=10) == "still up"


# -- context manager and shutdown -------------------------------------------------


def test_context_manager_waits_for_tasks_and_shuts_down():
    done = []

    def job(i):
        time.sleep(0.005)
        done.append(i)

    with dft.Runtime(threads=2) as rt:
        assert isinstance(rt, dft.Runtime)
        for i in range(20):
            rt.submit(job, i)
    assert sorted(done) == list(range(20))
    assert not rt.is_responsive()
    with pytest.raises(RuntimeError, match="shut down"):
        rt.submit(lambda: 1)


def test_context_manager_shuts_down_when_the_body_raises():
    with pytest.raises(KeyError):
        with dft.Runtime(threads=1) as rt:
            h = rt.submit(time.sleep, 0.05)
            raise KeyError("body")
    assert h.done()
    with pytest.raises(RuntimeError):
        rt.submit(lambda: 1)


def test_shutdown_wait_true_runs_everything_queued():
    rt = dft.Runtime(threads=1)
    handles = [rt.submit(time.sleep, 0.01) for _ in range(10)]
    rt.shutdown(wait=True)
    assert all(h.state == "completed" for h in handles)


def test_shutdown_wait_true_runs_tasks_submitted_by_tasks():
    rt = dft.Runtime(threads=1)
    children = []

    def parent():
        time.sleep(0.05)
        children.append(rt.submit(lambda: "child"))

    rt.submit(parent)
    rt.shutdown(wait=True)
    assert [c.get() for c in children] == ["child"]


def test_shutdown_wait_false_cancels_queued_tasks_and_stops_cooperative_ones():
    rt = dft.Runtime(threads=1)
    started = threading.Event()

    def cooperative():
        started.set()
        while not dft.cancelled():
            time.sleep(0.005)
        return "stopped"

    running = rt.submit(cooperative)
    queued = [rt.submit(lambda: 1) for _ in range(5)]
    assert started.wait(10)
    t0 = time.monotonic()
    rt.shutdown(wait=False)
    assert time.monotonic() - t0 < 5
    assert running.get() == "stopped"
    assert all(q.state == "cancelled" for q in queued)


def test_shutdown_is_idempotent():
    rt = dft.Runtime(threads=1)
    rt.shutdown()
    rt.shutdown()
    rt.shutdown(wait=False)


def test_handles_stay_usable_after_shutdown():
    rt = dft.Runtime(threads=1)
    h = rt.submit(lambda: [1, 2])
    rt.shutdown()
    assert h.get() == [1, 2] and h.done()


def test_runtime_dropped_without_shutdown_finishes_or_cancels_its_tasks():
    import gc

    rt = dft.Runtime(threads=1)
    first = rt.submit(time.sleep, 0.05)
    rest = [rt.submit(lambda: 9) for _ in range(100)]
    del rt
    gc.collect()
    # Like shutdown(wait=False): what runs finishes, what is queued may be
    # cancelled; nothing is left waiting forever.
    handles: list[dft.TaskHandle[object]] = [first, *rest]
    assert all(h.done() for h in handles)
    assert {h.state for h in handles} <= {"completed", "cancelled"}


def test_is_responsive_while_running_and_false_after_shutdown():
    rt = dft.Runtime(threads=1)
    assert rt.is_responsive()
    gate = threading.Event()
    rt.submit(gate.wait, 10)
    assert rt.is_responsive()
    gate.set()
    rt.shutdown()
    assert not rt.is_responsive()


def test_many_runtimes_can_coexist_and_be_created_in_sequence():
    runtimes = [dft.Runtime(threads=1, io_threads=1) for _ in range(4)]
    handles = [r.submit(os.getpid) for r in runtimes]
    assert {h.get() for h in handles} == {os.getpid()}
    for r in runtimes:
        r.shutdown()
    for _ in range(10):
        with dft.Runtime(threads=2, io_threads=1) as r:
            assert r.submit(lambda: 1).get() == 1


def test_task_running_on_one_runtime_can_use_another(rt):
    with dft.Runtime(threads=1) as other:
        assert rt.submit(lambda: other.submit(lambda: "other").get()).get(timeout=10) == "other"
