"""get_progress(): the documented schema (TypedDicts in progress_types),
cumulative totals, current running/queued, worker entries, per-task
progress_pct from dft.report_progress, and recent errors."""

from __future__ import annotations

import threading
import time
import typing

import pytest

import dftracer.utils as dft
from dftracer.utils.progress_types import ErrorProgress, Progress, TaskProgress, WatchdogProgress, WorkerProgress


def _check_schema(value, typed_dict):
    hints = typing.get_type_hints(typed_dict)
    assert set(value) == set(hints), (typed_dict.__name__, set(value) ^ set(hints))
    for key, hint in hints.items():
        origin = typing.get_origin(hint)
        if origin is list:
            assert isinstance(value[key], list)
        elif typing.is_typeddict(hint):
            assert isinstance(value[key], dict)
        elif hint is float:
            assert isinstance(value[key], (int, float)), key
        else:
            assert isinstance(value[key], hint), (key, hint, value[key])
            if hint is int:
                assert not isinstance(value[key], bool)


def _check_progress(progress):
    _check_schema(progress, Progress)
    for w in progress["workers"]:
        _check_schema(w, WorkerProgress)
    for t in progress["tasks"]:
        _check_schema(t, TaskProgress)
    for e in progress["errors"]:
        _check_schema(e, ErrorProgress)
    _check_schema(progress["watchdog"], WatchdogProgress)


def test_fresh_runtime_reports_zero_counts_and_idle_workers(rt):
    p = rt.get_progress()
    _check_progress(p)
    assert {k: p[k] for k in ("total", "completed", "running", "queued", "failed", "cancelled", "timed_out")} == dict.fromkeys(
        ("total", "completed", "running", "queued", "failed", "cancelled", "timed_out"), 0
    )
    assert p["tasks"] == [] and p["errors"] == [] and p["tasks_truncated"] is False
    assert all(w["idle"] and w["task"] == "" for w in p["workers"])


def test_running_and_queued_are_current_and_totals_cumulative(rt, wait_until):
    gate = threading.Event()
    blockers = [rt.submit(gate.wait, 10, name=f"blocker-{i}") for i in range(2)]
    try:
        assert wait_until(lambda: rt.get_progress()["running"] == 2)
        queued = [rt.submit(lambda: 1, name="later") for _ in range(3)]
        p = rt.get_progress()
    finally:
        threading.Timer(0.5, gate.set).start()
    _check_progress(p)
    assert (p["total"], p["running"], p["queued"], p["completed"]) == (5, 2, 3, 0)
    busy = {w["task"] for w in p["workers"] if not w["idle"]}
    assert busy == {"blocker-0", "blocker-1"}
    states = {t["name"]: t["state"] for t in p["tasks"]}
    assert states["blocker-0"] == "running" and states["later"] == "queued"
    rt.wait_all()
    p = rt.get_progress()
    assert (p["total"], p["running"], p["queued"], p["completed"]) == (5, 0, 0, 5)
    assert all(h.get() for h in blockers + queued)

    # Totals keep counting across batches; failures count separately.
    rt.submit(lambda: 1)
    rt.submit(lambda: 1 / 0)
    rt.wait_all()
    p = rt.get_progress()
    assert (p["total"], p["completed"], p["failed"], p["running"], p["queued"]) == (7, 6, 1, 0, 0)


def test_cancelled_tasks_are_counted(rt1):
    gate = threading.Event()
    rt1.submit(gate.wait, 10)
    victim = rt1.submit(lambda: 1)
    assert victim.cancel()
    gate.set()
    rt1.wait_all()
    p = rt1.get_progress()
    assert (p["total"], p["completed"], p["cancelled"], p["failed"]) == (2, 1, 1, 0)


def test_report_progress_shows_as_progress_pct_while_running(rt):
    gate = threading.Event()
    reported = threading.Event()

    def work():
        dft.report_progress(3, 4)
        reported.set()
        gate.wait(10)
        dft.report_progress(4, 4)

    h = rt.submit(work, name="reader")
    assert reported.wait(10)
    (entry,) = [t for t in rt.get_progress()["tasks"] if t["name"] == "reader"]
    assert entry["state"] == "running"
    assert entry["progress_pct"] == pytest.approx(75.0)
    assert (entry["completed_subtasks"], entry["total_subtasks"]) == (3, 4)
    assert entry["execution_duration_ms"] > 0
    gate.set()
    h.get()
    (entry,) = [t for t in rt.get_progress()["tasks"] if t["name"] == "reader"]
    assert entry["state"] == "completed" and entry["progress_pct"] == pytest.approx(100.0)


def test_report_progress_outside_a_task_is_a_no_op():
    dft.report_progress(1, 2)


def test_progress_pct_never_exceeds_100(rt):
    def overshoot():
        dft.report_progress(10, 4)

    rt.submit(overshoot, name="over").get()
    (entry,) = rt.get_progress()["tasks"]
    assert entry["progress_pct"] == 100.0


def test_errors_list_recent_failures_with_messages(rt):
    def fails(i):
        raise ValueError(f"bad {i}")

    for i in range(3):
        rt.submit(fails, i, name=f"e{i}")
    rt.wait_all()
    errors = rt.get_progress()["errors"]
    assert sorted((e["name"], e["message"], e["state"]) for e in errors) == [
        (f"e{i}", f"ValueError: bad {i}", "failed") for i in range(3)
    ]
    assert all(e["task_id"] >= 1 for e in errors)


def test_tasks_list_is_bounded_by_recent_tasks_and_max_tasks():
    with dft.Runtime(threads=2, recent_tasks=16) as rt:
        for _ in range(100):
            rt.submit(lambda: None)
        rt.wait_all()
        assert len(rt.get_progress()["tasks"]) == 16
        gate = threading.Event()
        for _ in range(10):
            rt.submit(gate.wait, 10)
        p = rt.get_progress(max_tasks=3)
        live = [t for t in p["tasks"] if t["state"] in ("queued", "running")]
        assert len(live) == 3 and p["tasks_truncated"] is True
        gate.set()


def test_queued_duration_and_execution_duration_are_measured(rt1):
    gate = threading.Event()
    rt1.submit(gate.wait, 10)
    waiting = rt1.submit(lambda: None, name="waiting")
    threading.Timer(0.1, gate.set).start()
    waiting.get()
    (entry,) = [t for t in rt1.get_progress()["tasks"] if t["name"] == "waiting"]
    assert entry["queued_duration_ms"] >= 50.0
    assert entry["execution_duration_ms"] < entry["queued_duration_ms"]


def test_worker_entries_show_tasks_run(rt):
    for _ in range(20):
        rt.submit(lambda: None)
    rt.wait_all()
    # A worker counts a task once its body has returned, a moment after the
    # task is final (which is what wait_all waits for): allow that moment.
    deadline = time.monotonic() + 2
    workers = rt.get_progress()["workers"]
    while sum(w["tasks_run"] for w in workers) < 20 and time.monotonic() < deadline:
        time.sleep(0.001)
        workers = rt.get_progress()["workers"]
    assert sum(w["tasks_run"] for w in workers) >= 20
    assert all(w["queue_depth"] == 0 for w in workers)
    assert {w["state"] for w in workers} <= {"idle", "parked", "running", "blocked", "retired"}
