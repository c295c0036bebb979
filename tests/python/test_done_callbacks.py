"""TaskHandle.add_done_callback: called exactly once after completion (at once
if already done), with the handle; errors logged, never propagated; never on
the watchdog thread; never once the interpreter is exiting."""

from __future__ import annotations

import collections
import logging
import threading
import time

import pytest

import dftracer.utils as dft


def test_callback_runs_once_after_completion_with_the_handle(rt):
    gate = threading.Event()
    calls = []
    h = rt.submit(gate.wait, 30)
    h.add_done_callback(lambda handle: calls.append((handle, handle.done(), handle.get())))
    time.sleep(0.05)
    assert calls == []
    gate.set()
    h.wait()
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.001)
    assert calls == [(h, True, True)]


def test_callback_added_after_completion_runs_at_once_on_the_caller(rt):
    h = rt.submit(lambda: 5)
    h.wait()
    where = []
    h.add_done_callback(lambda handle: where.append(threading.current_thread()))
    assert where == [threading.current_thread()]


def test_callback_runs_before_a_waiter_on_the_same_worker_sees_the_settle(rt):
    # Inline on the finishing worker, before the task settles: wait_all covers it.
    seen = []
    for _ in range(100):
        rt.submit(lambda: 1).add_done_callback(lambda h: seen.append(h.get()))
    rt.wait_all()
    assert seen == [1] * 100


def test_every_callback_runs_exactly_once_under_load():
    counts: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()

    def record(h):
        with lock:
            counts[h.task_id] += 1

    with dft.Runtime(threads=4, io_threads=2) as rt:
        handles = []
        for i in range(20_000):
            h = rt.submit(time.sleep, 0) if i % 2 else rt.submit_io(lambda: None)
            h.add_done_callback(record)
            if i % 3 == 0:
                h.add_done_callback(record)  # a second one on some
            handles.append(h)
        rt.wait_all()
    expected = {h.task_id: 2 if i % 3 == 0 else 1 for i, h in enumerate(handles)}
    assert dict(counts) == expected


def test_callback_error_is_logged_and_does_not_affect_task_or_other_callbacks(rt, caplog):
    other = []

    def broken(h):
        raise RuntimeError("callback broke")

    h = rt.submit(lambda: 42)
    with caplog.at_level(logging.ERROR, logger="dftracer.utils"):
        h.add_done_callback(broken)
        h.add_done_callback(lambda handle: other.append(handle.get()))
        assert h.get() == 42
        rt.wait_all()
    assert other == [42]
    assert any("callback broke" in (r.exc_text or "") or "done callback" in r.getMessage() for r in caplog.records)
    assert h.state == "completed"


def test_callback_runs_for_failed_and_cancelled_tasks(rt1):
    states = []
    gate = threading.Event()
    blocker = rt1.submit(gate.wait, 30)
    failing = rt1.submit(lambda: 1 / 0)
    queued = rt1.submit(lambda: 1)
    for h in (failing, queued):
        h.add_done_callback(lambda handle: states.append((handle.name, handle.state)))
    assert queued.cancel()  # runs the callback here, on the cancelling thread
    assert states == [(queued.name, "cancelled")]
    gate.set()
    rt1.wait_all()
    assert (failing.name, "failed") in states and blocker.get() is True


def test_callback_of_a_timed_out_task_runs_on_a_runtime_worker_not_the_watchdog():
    with dft.Runtime(threads=1, io_threads=1, watchdog_interval=10) as rt:
        rt.set_default_task_timeout(50)
        where = []
        done = threading.Event()

        def record(h):
            # wait_all from one of the runtime's own workers refuses to wait
            # for itself; from the watchdog thread it would just wait.
            try:
                rt._native.wait_all(0.0)
                where.append("not a worker")
            except RuntimeError:
                where.append("worker")
            where.append(h.state)
            done.set()

        def spin():
            while not dft.cancelled():
                time.sleep(0.001)

        h = rt.submit(spin)
        h.add_done_callback(record)
        assert done.wait(30)
        assert where == ["worker", "timed_out"]


def test_future_backed_handle_callback_gets_the_handle():
    import concurrent.futures as cf

    fut: cf.Future[int] = cf.Future()
    h = dft.TaskHandle(future=fut, name="f")
    got = []
    h.add_done_callback(lambda handle: got.append(handle))
    fut.set_result(3)
    assert got == [h]


def test_add_done_callback_rejects_a_non_callable(rt):
    with pytest.raises(TypeError, match="callable"):
        rt.submit(lambda: 1).add_done_callback(5)


def test_callback_never_runs_once_the_interpreter_is_exiting(python_script, tmp_path):
    marker = tmp_path / "ran"
    proc = python_script(
        f"""
        import atexit, time
        # Registered before dftracer.utils's own hook, so it runs after it:
        # the long task finishes during this sleep, after the runtime was
        # told the interpreter is exiting.
        atexit.register(time.sleep, 1.5)
        import dftracer.utils as dft

        rt = dft.Runtime(threads=2, io_threads=1)

        def record(h):
            with open({str(marker)!r}, "a") as f:
                f.write(h.name + "\\n")

        rt.submit(time.sleep, 0.05, name="quick").add_done_callback(record)
        rt.submit(time.sleep, 0.8, name="long").add_done_callback(record)
        time.sleep(0.3)
        print("exiting", flush=True)
        """,
        env={"DFTRACER_UTILS_EXIT_GRACE": "0.1"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "exiting" in proc.stdout
    assert marker.read_text().split() == ["quick"]
