"""The watchdog from Python: timeouts, stalls, starvation, live progress,
long-task logging, cancellation, and the idle cost."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Iterator, List

import pytest

import dftracer.utils as dft


def fast(threads: int = 1, **kw: Any) -> dft.Runtime:
    opts: dict[str, Any] = dict(watchdog_interval="10ms", starvation_threshold="100ms", stall_threshold="300ms")
    opts.update(kw)
    return dft.Runtime(threads=threads, io_threads=1, **opts)


@pytest.fixture
def rt() -> Iterator[dft.Runtime]:
    with fast(threads=2) as runtime:
        yield runtime


def test_task_sleeping_past_its_timeout_fails_with_task_timeout_error() -> None:
    # caller_runs=False: h.get() would otherwise run the sleep on this thread
    # when no worker had started it yet, and could not return at the deadline.
    with fast(threads=2, caller_runs=False) as rt:
        _sleep_past_timeout(rt)


def _sleep_past_timeout(rt: dft.Runtime) -> None:
    rt.set_default_task_timeout("100ms")
    h = rt.submit(time.sleep, 1.0)
    t0 = time.perf_counter()
    with pytest.raises(dft.TaskTimeoutError, match="exceeded its timeout of 100 ms"):
        h.get()
    assert time.perf_counter() - t0 < 0.8  # released at the deadline, not when sleep returns
    assert isinstance(h.exception, TimeoutError)
    assert h.state == "timed_out"
    progress = rt.get_progress()
    assert progress["timed_out"] == 1
    assert progress["errors"][-1]["state"] == "timed_out"
    assert [f.name for f in rt.get_failed()] == [h.name]


def test_python_busy_loop_past_its_timeout_is_interrupted() -> None:
    with fast(threads=1, starvation_threshold="60s") as rt:
        rt.set_default_task_timeout(150)
        interrupted = threading.Event()

        def spin() -> None:
            try:
                while True:
                    pass
            except dft.TaskTimeoutError:
                interrupted.set()
                raise

        h = rt.submit(spin)
        with pytest.raises(dft.TaskTimeoutError):
            h.get()
        assert interrupted.wait(5), "the busy loop was never interrupted"
        rt.set_default_task_timeout(None)
        # The single worker is free again (no temporary worker was needed).
        assert rt.submit(lambda: "free").get(timeout=5) == "free"
        assert rt.get_progress()["watchdog"]["temporary_workers_added"] == 0


def test_interrupt_does_not_leak_into_the_next_task_on_the_worker() -> None:
    with fast(threads=1, starvation_threshold="60s") as rt:
        rt.set_default_task_timeout("50ms")
        with pytest.raises(dft.TaskTimeoutError):
            rt.submit(time.sleep, 0.3).get()
        rt.set_default_task_timeout(None)
        # time.sleep was a C call: the async exception could still be pending
        # when it returned; the next task on the same thread must not see it.
        results = [rt.submit(sum, range(10_000)).get() for _ in range(20)]
        assert results == [sum(range(10_000))] * 20


def test_global_timeout_times_out_queued_and_running_tasks() -> None:
    # caller_runs=False: a get() on the queued task must not run it here.
    with fast(threads=1, starvation_threshold="60s", caller_runs=False) as rt:
        gate = threading.Event()
        running = rt.submit(gate.wait, 5)
        queued = rt.submit(lambda: 1)
        assert rt.is_responsive()
        rt.set_timeout("100ms")
        with pytest.raises(dft.TaskTimeoutError, match="runtime timeout of 100 ms"):
            queued.get()
        with pytest.raises(dft.TaskTimeoutError):
            running.get()
        deadline = time.monotonic() + 3
        while rt.is_responsive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not rt.is_responsive()
        gate.set()
        rt.set_timeout(None)
        assert rt.submit(lambda: 2).get(timeout=5) == 2


def test_starvation_with_one_thread_is_resolved_by_a_temporary_worker(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dftracer.utils")
    with fast(threads=1) as rt:
        event = threading.Event()
        waiter = rt.submit(event.wait, 10, name="waiter")  # blocks where the runtime cannot see
        setter = rt.submit(event.set, name="setter")  # only a later task sets it
        assert waiter.get(timeout=10) is True
        setter.get(timeout=1)
        progress = rt.get_progress()
        assert progress["watchdog"]["temporary_workers_added"] >= 1
    assert any("added a temporary worker" in r.getMessage() for r in caplog.records)


def test_is_responsive_flips_false_on_a_stall_and_back() -> None:
    with fast(threads=1, starvation_threshold="60s", stall_threshold="200ms") as rt:
        gate = threading.Event()
        rt.submit(gate.wait, 10)
        queued = rt.submit(lambda: "done")
        assert rt.is_responsive()
        deadline = time.monotonic() + 5
        while rt.is_responsive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not rt.is_responsive()
        assert rt.get_progress()["watchdog"]["stalled"]
        gate.set()
        assert queued.get(timeout=5) == "done"
        deadline = time.monotonic() + 5
        while not rt.is_responsive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert rt.is_responsive()


def test_progress_shows_a_running_task_name_within_one_interval(rt: dft.Runtime) -> None:
    gate = threading.Event()
    h = rt.submit(gate.wait, 5, name="visible-task")
    seen = False
    deadline = time.monotonic() + 1
    while not seen and time.monotonic() < deadline:
        seen = any(w["task"] == "visible-task" for w in rt.get_progress()["workers"])
        time.sleep(0.005)
    gate.set()
    h.get()
    assert seen


def test_reported_progress_fills_progress_pct(rt: dft.Runtime) -> None:
    gate = threading.Event()
    reported = threading.Event()

    def steps() -> None:
        dft.report_progress(3, 4)
        reported.set()
        gate.wait(5)

    h = rt.submit(steps, name="steps")
    assert reported.wait(5)
    live = [t for t in rt.get_progress()["tasks"] if t["name"] == "steps"]
    gate.set()
    h.get()
    assert live and live[0]["progress_pct"] == 75.0
    assert live[0]["completed_subtasks"] == 3 and live[0]["total_subtasks"] == 4


def test_long_running_tasks_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dftracer.utils")
    with fast(threads=2, long_task_threshold="100ms") as rt:
        rt.submit(time.sleep, 0.5, name="slowpoke").get()
    mentions = [r for r in caplog.records if "'slowpoke'" in r.getMessage()]
    assert len(mentions) == 1
    assert "running longer than 100 ms" in mentions[0].getMessage()


def test_progress_output_stays_bounded_after_many_tasks() -> None:
    scale = float(os.environ.get("DFTRACER_STRESS_SCALE", "1"))
    n = max(10_000, int(1_000_000 * min(scale, 1.0)))
    with dft.Runtime(threads=2) as rt:
        for start in range(0, n, 50_000):
            for i in range(start, min(n, start + 50_000)):
                rt.submit(abs, -i)
            rt.wait_all()
        t0 = time.perf_counter()
        progress = rt.get_progress()
        elapsed = time.perf_counter() - t0
    assert progress["total"] == n and progress["completed"] == n
    assert len(progress["tasks"]) <= 1024
    assert elapsed < 1.0, f"get_progress took {elapsed:.3f} s"


def test_get_progress_while_many_tasks_run_is_cheap() -> None:
    with dft.Runtime(threads=2) as rt:
        for i in range(100_000):
            rt.submit(abs, -i)
        t0 = time.perf_counter()
        progress = rt.get_progress()
        elapsed = time.perf_counter() - t0
        rt.wait_all()
    assert len(progress["tasks"]) <= 1024 + 1000
    assert elapsed < 1.0, f"get_progress took {elapsed:.3f} s with 100k tasks live"


def test_idle_runtime_uses_under_one_percent_cpu() -> None:
    with dft.Runtime(threads=2) as rt:
        rt.submit(lambda: None).get()
        rt.wait_all()
        time.sleep(0.3)  # workers finish spinning and park
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(2.0)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"idle CPU over {wall:.2f} s: {cpu * 1e3:.2f} ms ({cpu / wall:.4%})")
    assert cpu / wall < 0.01


def test_cancel_queued_task_never_runs_and_cancelled_is_visible_inside() -> None:
    with fast(threads=1, starvation_threshold="60s") as rt:
        gate = threading.Event()
        started = threading.Event()
        ran: List[int] = []
        saw_cancel = threading.Event()

        def loop() -> int:
            started.set()
            for i in range(1000):
                if dft.cancelled():
                    saw_cancel.set()
                    return i
                time.sleep(0.005)
            return -1

        running = rt.submit(loop)
        queued = rt.submit(ran.append, 1)
        assert started.wait(5)
        assert queued.cancel() is True
        assert queued.cancelled()
        assert running.cancel() is False  # already running: only asked to stop
        assert saw_cancel.wait(5)
        assert running.get() >= 0
        rt.wait_all()
        assert ran == []
        gate.set()
    assert not dft.cancelled()  # outside any task


@pytest.mark.parametrize(
    "value,ok",
    [
        (250, True),
        (0.5, True),
        ("250ms", True),
        ("30s", True),
        ("5m", True),
        ("1h", True),
        ("100", True),
        (None, True),
        (-1, False),
        ("-5s", False),
        (float("nan"), False),
        ("soon", False),
        ("10 parsecs", False),
    ],
)
def test_durations_parse_and_reject(rt: dft.Runtime, value: Any, ok: bool) -> None:
    if ok:
        rt.set_default_task_timeout(value)
        rt.set_timeout(value)
        rt.set_timeout(None)
    else:
        with pytest.raises(ValueError):
            rt.set_default_task_timeout(value)
        with pytest.raises(ValueError):
            rt.set_timeout(value)


def test_duration_of_wrong_type_is_a_type_error(rt: dft.Runtime) -> None:
    bad_values: List[Any] = [True, [1], object()]
    for bad in bad_values:
        with pytest.raises(TypeError):
            rt.set_default_task_timeout(bad)


def test_watchdog_can_be_turned_off() -> None:
    with dft.Runtime(threads=1, watchdog_interval=0) as rt:
        assert rt.submit(lambda: 1).get() == 1
        assert rt.get_progress()["watchdog"]["enabled"] is False
        assert rt.is_responsive()
