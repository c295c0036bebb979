"""set_error_callback: called with (handle, exception) on the failing task's
thread before that task's get()/wait()/covering wait_all() return; an
exception inside it is logged and changes nothing else; None clears it."""

from __future__ import annotations

import logging
import threading
import time

import pytest

import dftracer.utils as dft


def _fail(message="boom"):
    raise ValueError(message)


class Recorder:
    """An error callback that is slow on purpose, so a get() that returned
    before it finished would see nothing recorded."""

    def __init__(self, delay=0.05):
        self.delay = delay
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, handle, exc):
        time.sleep(self.delay)
        with self.lock:
            self.calls.append((handle, exc, threading.get_ident()))


def test_callback_has_returned_before_get_raises(rt):
    rec = Recorder()
    rt.set_error_callback(rec)
    h = rt.submit(_fail, name="watched")
    with pytest.raises(ValueError):
        h.get()
    assert [(c[0].name, str(c[1])) for c in rec.calls] == [("watched", "boom")]


def test_callback_has_returned_before_wait_raises(rt):
    rec = Recorder()
    rt.set_error_callback(rec)
    h = rt.submit(_fail)
    with pytest.raises(ValueError):
        h.wait()
    assert len(rec.calls) == 1


def test_callback_has_returned_before_runtime_wait_raises(rt):
    rec = Recorder()
    rt.set_error_callback(rec)
    h = rt.submit(_fail)
    with pytest.raises(ValueError):
        rt.wait(h)
    assert len(rec.calls) == 1


def test_callbacks_have_all_returned_before_wait_all_returns(rt):
    rec = Recorder(delay=0.02)
    rt.set_error_callback(rec)
    for i in range(10):
        rt.submit(_fail, str(i), name=f"f{i}")
    rt.wait_all()
    assert sorted(c[0].name for c in rec.calls) == sorted(f"f{i}" for i in range(10))


def test_callbacks_have_returned_before_raising_wait_all_raises(rt):
    rec = Recorder()
    rt.set_error_callback(rec)
    rt.submit(_fail, name="a")
    rt.submit(_fail, name="b")
    with pytest.raises(RuntimeError):
        rt.wait_all(raise_on_error=True)
    assert sorted(c[0].name for c in rec.calls) == ["a", "b"]


def test_callback_gets_the_handle_and_the_exception_object(rt):
    rec = Recorder(delay=0)
    rt.set_error_callback(rec)
    h = rt.submit(_fail, "exact")
    with pytest.raises(ValueError) as info:
        h.get()
    ((handle, exc, _),) = rec.calls
    assert isinstance(handle, dft.TaskHandle)
    assert handle == h and handle.task_id == h.task_id
    assert exc is info.value is h.exception


def test_callback_runs_on_a_worker_thread_not_the_caller(rt):
    rec = Recorder(delay=0)
    rt.set_error_callback(rec)
    rt.submit(_fail)
    rt.wait_all()
    assert rec.calls[0][2] != threading.get_ident()


def test_handle_is_finished_inside_its_own_callback(rt1):
    seen: list[object] = []

    def callback(handle, exc):
        seen.append((handle.done(), handle.state, handle.exception is exc))
        try:
            handle.get()  # must not wait for itself
        except ValueError as e:
            seen.append(e is exc)

    rt1.set_error_callback(callback)
    rt1.submit(_fail)
    rt1.wait_all()
    assert seen == [(True, "failed", True), True]


def test_callback_is_not_called_for_success_or_cancel(rt1):
    rec = Recorder(delay=0)
    rt1.set_error_callback(rec)
    gate = threading.Event()
    blocker = rt1.submit(gate.wait, 10)
    queued = rt1.submit(lambda: 1)
    assert queued.cancel()
    gate.set()
    rt1.submit(lambda: 2).get()
    rt1.wait_all()
    assert blocker.get() is True
    assert rec.calls == []


def test_exception_in_callback_is_logged_and_result_kept(rt1, caplog):
    def bad_callback(handle, exc):
        raise RuntimeError("callback exploded")

    rt1.set_error_callback(bad_callback)
    with caplog.at_level(logging.ERROR, logger="dftracer.utils"):
        h = rt1.submit(_fail, "original", name="victim")
        with pytest.raises(ValueError, match="original"):
            h.get()
    records = [r for r in caplog.records if r.name.startswith("dftracer.utils")]
    assert len(records) == 1
    assert "victim" in records[0].getMessage()
    assert records[0].exc_info is not None and isinstance(records[0].exc_info[1], RuntimeError)
    # Still the task's own exception, and the single worker is alive.
    assert isinstance(h.exception, ValueError)
    assert rt1.submit(lambda: "alive").get(timeout=10) == "alive"
    assert [x.name for x in rt1.get_failed()] == ["victim"]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exception_in_callback_is_logged_and_worker_survives(rt1, caplog, exc_type):
    def bad_callback(handle, exc):
        raise exc_type("from callback")

    rt1.set_error_callback(bad_callback)
    with caplog.at_level(logging.ERROR, logger="dftracer.utils"):
        h = rt1.submit(_fail)
        with pytest.raises(ValueError):
            h.get()
    assert any(r.exc_info and isinstance(r.exc_info[1], exc_type) for r in caplog.records)
    assert rt1.submit(lambda: 5).get(timeout=10) == 5


def test_none_clears_the_callback(rt):
    rec = Recorder(delay=0)
    rt.set_error_callback(rec)
    rt.submit(_fail)
    rt.wait_all()
    rt.set_error_callback(None)
    rt.submit(_fail)
    rt.wait_all()
    assert len(rec.calls) == 1
    assert len(rt.get_failed()) == 2


def test_setting_a_new_callback_replaces_the_old_one(rt):
    first, second = Recorder(delay=0), Recorder(delay=0)
    rt.set_error_callback(first)
    rt.set_error_callback(second)
    rt.submit(_fail)
    rt.wait_all()
    assert (len(first.calls), len(second.calls)) == (0, 1)


def test_non_callable_callback_is_rejected(rt):
    with pytest.raises(TypeError, match="int"):
        rt.set_error_callback(42)


def test_callback_may_submit_new_tasks(rt):
    retried = []

    def retry(handle, exc):
        retried.append(rt.submit(lambda: f"retried {handle.name}"))

    rt.set_error_callback(retry)
    rt.submit(_fail, name="flaky")
    rt.wait_all()
    assert [h.get() for h in retried] == ["retried flaky"]


def test_callback_sees_failures_of_many_concurrent_tasks(rt):
    rec = Recorder(delay=0)
    rt.set_error_callback(rec)
    for i in range(500):
        rt.submit(_fail if i % 2 else (lambda: None), name=f"t{i}")
    rt.wait_all()
    assert sorted(c[0].name for c in rec.calls) == sorted(f"t{i}" for i in range(1, 500, 2))
