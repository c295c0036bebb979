"""get_progress(): the documented schema (TypedDicts in progress_types),
cumulative totals, current running/queued, worker entries, per-task
progress_pct from dft.report_progress, and recent errors."""

from __future__ import annotations

import functools
import sys
import threading
import time
import typing

import pytest

import dftracer.utils as dft
from dftracer.utils.progress_types import ErrorProgress, Progress, TaskProgress, WatchdogProgress, WorkerProgress

# typing.is_typeddict is 3.10+; typing_extensions (a dependency on 3.9) has it.
if sys.version_info >= (3, 10):
    from typing import is_typeddict as _is_typeddict
else:  # pragma: no cover - Python 3.9
    from typing_extensions import is_typeddict as _is_typeddict


def _check_schema(value, typed_dict):
    hints = typing.get_type_hints(typed_dict)
    assert set(value) == set(hints), (typed_dict.__name__, set(value) ^ set(hints))
    for key, hint in hints.items():
        origin = typing.get_origin(hint)
        if origin is typing.Union:  # Optional[...]
            assert isinstance(value[key], typing.get_args(hint)), (key, hint, value[key])
        elif origin is list:
            assert isinstance(value[key], list)
        elif _is_typeddict(hint):
            assert isinstance(value[key], dict)
        elif hint is float:
            assert isinstance(value[key], (int, float)), key
        else:
            assert isinstance(value[key], hint), (key, hint, value[key])
            if hint is int:
                assert not isinstance(value[key], bool)


def _check_progress(progress):
    _check_schema(progress, Progress)
    for w in progress["workers"] + progress["io_workers"]:
        _check_schema(w, WorkerProgress)
    for t in progress["tasks"]:
        _check_schema(t, TaskProgress)
    for e in progress["errors"]:
        _check_schema(e, ErrorProgress)
    _check_schema(progress["watchdog"], WatchdogProgress)


def test_fresh_runtime_reports_zero_counts_and_idle_workers(rt):
    p = rt.get_progress()
    _check_progress(p)
    counts = ("total", "completed", "running", "blocked", "queued", "failed", "cancelled", "timed_out")
    assert {k: p[k] for k in counts} == dict.fromkeys(counts, 0)
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


def test_queued_duration_and_execution_duration_are_measured():
    # caller_runs=False: waiting.get() would otherwise run the queued task on
    # this thread at once, and it would never have waited in the queue.
    with dft.Runtime(threads=1, io_threads=1, caller_runs=False) as rt1:
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


# --- workers, io_workers, running and blocked ------------------------------------


def test_workers_lists_the_compute_pool_and_io_workers_the_io_pool():
    with dft.Runtime(threads=3, io_threads=2) as rt:
        gate = threading.Event()
        io_task = rt.submit_io(gate.wait, 10, name="io-wait")
        compute_task = rt.submit(gate.wait, 10, name="compute-wait")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            p = rt.get_progress()
            if p["running"] == 2:
                break
            time.sleep(0.005)
        gate.set()
        io_task.get()
        compute_task.get()
    _check_progress(p)
    assert [w["id"] for w in p["workers"]] == [0, 1, 2]
    assert [w["id"] for w in p["io_workers"]] == [0, 1]
    assert {w["pool"] for w in p["workers"]} == {"compute"} and {w["pool"] for w in p["io_workers"]} == {"io"}
    assert [w["task"] for w in p["workers"] if w["task"]] == ["compute-wait"]
    assert [w["task"] for w in p["io_workers"] if w["task"]] == ["io-wait"]
    for w in p["workers"]:
        assert {"id", "idle", "task", "queue_depth"} <= set(w)


def test_a_task_waiting_on_its_children_is_blocked_not_running(rt1, wait_until):
    """threads=1: the parent's get() runs its child on the same worker, so
    one task runs and the parent is shown as blocked."""
    gate = threading.Event()
    child_started = threading.Event()

    def child():
        child_started.set()
        gate.wait(10)
        return 1

    def parent():
        return rt1.submit(child, name="child").get() + 1

    h = rt1.submit(parent, name="parent")
    assert child_started.wait(10)
    p = rt1.get_progress()
    gate.set()
    assert h.get() == 2
    assert (p["running"], p["blocked"], p["queued"]) == (1, 1, 0)
    (worker,) = p["workers"]
    assert worker["task"] == "child" and worker["state"] == "running"
    rt1.wait_all()
    p = rt1.get_progress()
    assert (p["running"], p["blocked"]) == (0, 0)


def test_a_worker_blocked_on_a_running_task_counts_its_task_as_blocked(rt, wait_until):
    gate = threading.Event()
    other_started = threading.Event()

    def other():
        other_started.set()
        gate.wait(10)

    h_other = rt.submit(other, name="other")
    assert other_started.wait(10)
    waiter = rt.submit(lambda: h_other.get(), name="waiter")
    assert wait_until(lambda: any(w["state"] == "blocked" for w in rt.get_progress()["workers"]))
    p = rt.get_progress()
    gate.set()
    waiter.get()
    assert (p["running"], p["blocked"]) == (1, 1)
    blocked = [w for w in p["workers"] if w["state"] == "blocked"]
    assert [w["task"] for w in blocked] == ["waiter"]


def test_running_never_exceeds_the_workers_under_nested_load():
    threads = 2
    with dft.Runtime(threads=threads, io_threads=1) as rt:

        def leaf(i):
            time.sleep(0.0005 * (i % 3))
            return i

        def node(depth):
            if depth == 0:
                return leaf(depth)
            kids = [rt.submit(node, depth - 1) for _ in range(3)]
            return sum(k.get() for k in kids) + 1

        roots = [rt.submit(node, 3) for _ in range(4)]
        samples = []
        while not all(r.done() for r in roots):
            p = rt.get_progress(max_tasks=0)
            unblocked = sum(w["state"] != "blocked" for w in p["workers"] + p["io_workers"])
            samples.append((p["running"], p["blocked"], unblocked))
        assert [r.get() for r in roots] == [13] * 4
        rt.wait_all()
        final = rt.get_progress(max_tasks=0)
    assert samples
    for running, blocked, unblocked in samples:
        # One running task per worker that is not blocked; temporary workers
        # join only while others are blocked (and retire once idle).
        assert running <= unblocked, samples
        assert blocked >= 0
    assert (final["running"], final["blocked"], final["queued"]) == (0, 0, 0)


# --- location, parent_id, children -----------------------------------------------


def defined_here():
    return "here"


class Pipeline:
    def run(self):
        return "ran"

    def __call__(self):
        return "called"


class Built:
    def __init__(self):
        self.value = 1


def _where(fn) -> str:
    return f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"


def _entry(rt, handle):
    rt.wait_all()
    (entry,) = [t for t in rt.get_progress()["tasks"] if t["task_id"] == handle.task_id]
    return entry


def test_location_is_where_the_callable_was_defined(rt):
    lam = lambda: 1  # noqa: E731
    pipeline = Pipeline()
    cases = [
        (defined_here, _where(defined_here)),
        (lam, _where(lam)),
        (pipeline.run, _where(Pipeline.run)),
        (functools.partial(functools.partial(defined_here)), _where(defined_here)),
        (pipeline, _where(Pipeline.__call__)),
        (Built, _where(Built.__init__)),
        (len, ""),  # a builtin has no Python source
    ]
    for fn, expected in cases:
        h = rt.submit(fn)
        assert _entry(rt, h)["location"] == expected, fn
    assert _where(defined_here).endswith("test_progress.py:" + str(defined_here.__code__.co_firstlineno))


def wait_on(gate):
    gate.wait(10)


def test_location_of_a_live_task_is_known_too(rt, wait_until):
    gate = threading.Event()
    h = rt.submit(wait_on, gate)
    try:
        assert wait_until(lambda: h.state == "running")
        (entry,) = [t for t in rt.get_progress()["tasks"] if t["task_id"] == h.task_id]
        assert entry["state"] == "running" and entry["location"] == _where(wait_on)
    finally:
        gate.set()


def test_children_and_parent_id_link_submitted_tasks(rt):
    def grandchild():
        return 1

    def child():
        return rt.submit(grandchild, name="grandchild").get()

    def parent():
        kids = [rt.submit(child, name="child") for _ in range(3)]
        return [k.task_id for k in kids], sum(k.get() for k in kids)

    top = rt.submit(parent, name="parent")
    child_ids, total = top.get()
    rt.wait_all()
    tasks = {t["task_id"]: t for t in rt.get_progress()["tasks"]}
    assert total == 3
    assert tasks[top.task_id]["children"] == sorted(child_ids)
    assert tasks[top.task_id]["parent_id"] is None
    for cid in child_ids:
        assert tasks[cid]["parent_id"] == top.task_id
        (gid,) = tasks[cid]["children"]
        assert tasks[gid]["name"] == "grandchild" and tasks[gid]["parent_id"] == cid
        assert tasks[gid]["children"] == []


def test_children_of_a_live_task_are_listed_while_it_runs(rt):
    gate = threading.Event()
    submitted = threading.Event()
    ids: list[int] = []

    def parent():
        ids.extend(rt.submit(lambda: None).task_id for _ in range(2))
        submitted.set()
        gate.wait(10)

    top = rt.submit(parent)
    assert submitted.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tasks = {t["task_id"]: t for t in rt.get_progress()["tasks"]}
        if all(tasks.get(i, {}).get("state") == "completed" for i in ids):
            break
        time.sleep(0.005)
    entry = tasks[top.task_id]
    gate.set()
    top.get()
    assert entry["state"] == "running" and entry["children"] == sorted(ids)


def test_children_lists_are_bounded():
    with dft.Runtime(threads=2, io_threads=1, recent_tasks=512) as rt:

        def parent():
            return [rt.submit(lambda: None).task_id for _ in range(100)]

        top = rt.submit(parent)
        ids = top.get()
        rt.wait_all()
        (entry,) = [t for t in rt.get_progress()["tasks"] if t["task_id"] == top.task_id]
    assert entry["children"] == sorted(ids)[:64]


def test_totals_only_reads_leave_the_task_list_out(rt):
    for _ in range(5):
        rt.submit(lambda: None)
    rt.wait_all()
    full = rt._native.progress(0)
    light = rt._native.progress(0, recent=False)
    assert len(full["tasks"]) == 5 and light["tasks"] == []
    assert {k: light[k] for k in ("total", "completed", "running", "blocked")} == {
        k: full[k] for k in ("total", "completed", "running", "blocked")
    }
    assert len(light["workers"]) == len(full["workers"])
