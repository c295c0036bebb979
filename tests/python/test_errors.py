"""Task failures: get() re-raises the task's own exception object (type,
attributes, traceback), for every kind of exception including BaseException
subclasses; wait_all() collects rather than raises by default; get_failed()
and clear_failed(); wait_all(raise_on_error=True)."""

from __future__ import annotations

import errno
import re
import sys
import traceback
from typing import List

import pytest

import dftracer.utils as dft


class CustomError(Exception):
    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


class CustomBaseException(BaseException):
    pass


class UnprintableError(Exception):
    def __str__(self):
        raise RuntimeError("str() of this exception fails")


def _chained():
    try:
        raise KeyError("inner")
    except KeyError as e:
        raise ValueError("outer") from e


EXCEPTIONS = [
    pytest.param(lambda: ValueError("bad value"), id="ValueError"),
    pytest.param(lambda: TypeError("bad type"), id="TypeError"),
    pytest.param(lambda: KeyError("key"), id="KeyError"),
    pytest.param(lambda: IndexError(3), id="IndexError"),
    pytest.param(lambda: ZeroDivisionError("division by zero"), id="ZeroDivisionError"),
    pytest.param(lambda: OSError(errno.ENOENT, "No such file", "/nope"), id="OSError"),
    pytest.param(lambda: FileNotFoundError(errno.ENOENT, "missing", "/x"), id="FileNotFoundError"),
    pytest.param(lambda: RecursionError("deep"), id="RecursionError"),
    pytest.param(lambda: MemoryError(), id="MemoryError"),
    pytest.param(lambda: NotImplementedError(), id="NotImplementedError-no-message"),
    pytest.param(lambda: StopIteration("stop"), id="StopIteration"),
    pytest.param(lambda: StopAsyncIteration(), id="StopAsyncIteration"),
    pytest.param(lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), id="UnicodeDecodeError"),
    pytest.param(lambda: CustomError(7, {"why": "custom"}), id="CustomError"),
    pytest.param(lambda: UnprintableError(), id="UnprintableError"),
    pytest.param(lambda: KeyboardInterrupt("in task"), id="KeyboardInterrupt"),
    pytest.param(lambda: SystemExit(3), id="SystemExit"),
    pytest.param(lambda: GeneratorExit(), id="GeneratorExit"),
    pytest.param(lambda: CustomBaseException("base"), id="CustomBaseException"),
]
if sys.version_info >= (3, 11):
    EXCEPTIONS.append(
        pytest.param(lambda: ExceptionGroup("many", [ValueError(1), TypeError(2)]), id="ExceptionGroup")  # noqa: F821 (3.11+, guarded)
    )


@pytest.mark.parametrize("make", EXCEPTIONS)
def test_get_reraises_the_very_exception_object_the_task_raised(rt1, make):
    raised: List[BaseException] = []

    def task_that_raises():
        exc = make()
        raised.append(exc)
        raise exc

    h = rt1.submit(task_that_raises)
    with pytest.raises(BaseException) as info:
        h.get()
    assert info.value is raised[0]
    assert type(info.value) is type(raised[0])
    assert h.exception is raised[0]
    assert h.state == "failed"
    assert h.done()


@pytest.mark.parametrize("make", EXCEPTIONS)
def test_wait_reraises_the_task_exception_too(rt1, make):
    def task_that_raises():
        raise make()

    h = rt1.submit(task_that_raises)
    with pytest.raises(BaseException) as info:
        h.wait()
    assert info.value is h.exception


@pytest.mark.parametrize(
    "make",
    [p for p in EXCEPTIONS if p.id in ("KeyboardInterrupt", "SystemExit", "GeneratorExit", "CustomBaseException")],
)
def test_base_exception_in_task_comes_back_through_get_and_worker_survives(rt1, make):
    def task_that_raises():
        raise make()

    handles = [rt1.submit(task_that_raises) for _ in range(3)]
    for h in handles:
        with pytest.raises(BaseException):  # noqa: B017  (each raises a different base exception)
            h.get(timeout=10)
    # The single worker is still alive and running Python.
    assert rt1.submit(lambda: "alive").get(timeout=10) == "alive"
    assert len(rt1.get_failed()) == 3


def test_custom_exception_keeps_its_attributes(rt):
    def fails():
        raise CustomError(42, {"file": "trace.pfw"})

    with pytest.raises(CustomError) as info:
        rt.submit(fails).get()
    assert info.value.code == 42
    assert info.value.detail == {"file": "trace.pfw"}


def test_chained_exception_keeps_its_cause(rt):
    with pytest.raises(ValueError) as info:
        rt.submit(_chained).get()
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.__cause__.args == ("inner",)


def test_traceback_includes_the_task_function_frame(rt):
    def deep_helper():
        raise ValueError("deep")

    def task_body():
        deep_helper()

    h = rt.submit(task_body)
    with pytest.raises(ValueError) as info:
        h.get()
    names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert names[-2:] == ["task_body", "deep_helper"]
    # The traceback text names the line that raised.
    text = "".join(traceback.format_exception(type(info.value), info.value, info.value.__traceback__))
    assert 'raise ValueError("deep")' in text


def test_repeated_get_does_not_grow_the_traceback(rt):
    def task_body():
        raise ValueError("again")

    h = rt.submit(task_body)
    lengths = []
    for _ in range(5):
        try:
            h.get()
        except ValueError as e:
            lengths.append(len(traceback.extract_tb(e.__traceback__)))
    assert len(set(lengths)) == 1, lengths
    # exception shows the task's own frames only.
    assert [f.name for f in traceback.extract_tb(h.exception.__traceback__)] == ["task_body"]


def test_exception_is_none_on_success_and_while_running(rt):
    import threading

    gate = threading.Event()
    running = rt.submit(gate.wait, 10)
    assert running.exception is None
    gate.set()
    assert running.get() is True
    assert running.exception is None


def test_get_returns_same_result_object_every_time(rt):
    h = rt.submit(lambda: object())
    first = h.get()
    assert h.get() is first
    assert h.get(timeout=1) is first


def test_failure_message_in_progress_names_exception_type(rt):
    def fails():
        raise ZeroDivisionError("nope")

    rt.submit(fails, name="divider")
    rt.wait_all()
    errors = rt.get_progress()["errors"]
    assert errors[-1]["name"] == "divider"
    assert errors[-1]["message"] == "ZeroDivisionError: nope"


def test_unprintable_exception_does_not_break_reporting(rt):
    def fails():
        raise UnprintableError()

    rt.submit(fails, name="unprintable")
    rt.wait_all()
    with pytest.raises(RuntimeError, match=r"1 task\(s\) failed: unprintable"):
        rt.wait_all(raise_on_error=True)
    assert rt.get_progress()["errors"][-1]["message"].startswith("UnprintableError")


# -- wait_all / get_failed / clear_failed -------------------------------------


def _fail(message):
    raise ValueError(message)


def test_wait_all_does_not_raise_by_default(rt):
    handles = [rt.submit(_fail, f"m{i}", name=f"f{i}") for i in range(5)]
    ok = rt.submit(lambda: 1)
    rt.wait_all()  # no exception
    assert all(h.done() for h in handles) and ok.get() == 1
    assert sorted(h.name for h in rt.get_failed()) == [f"f{i}" for i in range(5)]


def test_get_failed_lists_failures_in_failure_order(rt):
    names = [f"fail-{i}" for i in range(6)]
    for name in names:
        h = rt.submit(_fail, name, name=name)
        with pytest.raises(ValueError):
            h.wait()
        rt.submit(lambda: None).get()  # successes are not listed
    failed = rt.get_failed()
    assert [h.name for h in failed] == names
    assert [str(h.exception) for h in failed] == names
    assert all(isinstance(h, dft.TaskHandle) for h in failed)


def test_get_failed_handles_equal_the_submitted_handles(rt):
    h = rt.submit(_fail, "x")
    rt.wait_all()
    (failed,) = rt.get_failed()
    assert failed == h
    assert failed.task_id == h.task_id
    assert hash(failed) == hash(h)
    assert failed.exception is h.exception


def test_clear_failed_forgets_previous_failures(rt):
    rt.submit(_fail, "a", name="a")
    rt.wait_all()
    assert [h.name for h in rt.get_failed()] == ["a"]
    rt.clear_failed()
    assert rt.get_failed() == []
    rt.submit(_fail, "b", name="b")
    rt.wait_all()
    assert [h.name for h in rt.get_failed()] == ["b"]


def test_get_failed_includes_tasks_failed_by_nested_submissions(rt):
    def parent():
        rt.submit(_fail, "child", name="child")
        return "parent ok"

    assert rt.submit(parent).get() == "parent ok"
    rt.wait_all()
    assert [h.name for h in rt.get_failed()] == ["child"]


def test_cancelled_tasks_are_not_failures(rt1):
    import threading

    gate = threading.Event()
    blocker = rt1.submit(gate.wait, 10)
    queued = rt1.submit(lambda: 1)
    assert queued.cancel()
    gate.set()
    rt1.wait_all()
    assert blocker.get() is True
    assert rt1.get_failed() == []
    assert queued.exception is None


def test_raise_on_error_message_names_each_failed_task(rt):
    rt.submit(_fail, "first problem", name="alpha")
    rt.submit(_fail, "second problem", name="beta")
    rt.submit(lambda: None, name="fine")
    with pytest.raises(RuntimeError) as info:
        rt.wait_all(raise_on_error=True)
    message = str(info.value)
    assert message.startswith("2 task(s) failed: ")
    assert "alpha: ValueError: first problem" in message
    assert "beta: ValueError: second problem" in message
    assert "fine" not in message


def test_raise_on_error_raises_only_after_every_task_finished(rt):
    import time

    def slow():
        time.sleep(0.2)
        return "slow"

    rt.submit(_fail, "quick", name="quick")
    slow_handle = rt.submit(slow)
    with pytest.raises(RuntimeError):
        rt.wait_all(raise_on_error=True)
    assert slow_handle.done()


def test_raise_on_error_names_only_failures_since_previous_raising_wait_all(rt):
    rt.submit(_fail, "1", name="first")
    with pytest.raises(RuntimeError, match=r"^1 task\(s\) failed: first: ValueError: 1$"):
        rt.wait_all(raise_on_error=True)

    rt.wait_all(raise_on_error=True)  # nothing new: no raise

    rt.submit(_fail, "2", name="second")
    rt.wait_all()  # a non-raising wait_all does not consume the report
    rt.submit(_fail, "3", name="third")
    with pytest.raises(RuntimeError) as info:
        rt.wait_all(raise_on_error=True)
    assert str(info.value).startswith("2 task(s) failed: ")
    assert "second" in str(info.value) and "third" in str(info.value)
    assert "first" not in str(info.value)
    # get_failed is independent of what raising wait_all reported.
    assert [h.name for h in rt.get_failed()] == ["first", "second", "third"]


def test_raise_on_error_is_not_reset_by_clear_failed(rt):
    rt.submit(_fail, "x", name="kept")
    rt.wait_all()
    rt.clear_failed()
    with pytest.raises(RuntimeError, match="kept"):
        rt.wait_all(raise_on_error=True)


def test_raise_on_error_without_failures_returns_none(rt):
    rt.submit(lambda: 1)
    assert rt.wait_all(raise_on_error=True) is None


def test_raise_on_error_counts_base_exception_failures(rt):
    def interrupt():
        raise KeyboardInterrupt("inside")

    rt.submit(interrupt, name="ki")
    with pytest.raises(RuntimeError, match=r"1 task\(s\) failed: ki: KeyboardInterrupt: inside"):
        rt.wait_all(raise_on_error=True)


def test_raise_on_error_message_for_exception_without_text(rt):
    def fails():
        raise NotImplementedError

    rt.submit(fails, name="todo")
    with pytest.raises(RuntimeError, match=r"todo: NotImplementedError$"):
        rt.wait_all(raise_on_error=True)


def test_many_failures_are_all_reported(rt):
    n = 200
    for i in range(n):
        rt.submit(_fail, str(i), name=f"t{i}")
    with pytest.raises(RuntimeError) as info:
        rt.wait_all(raise_on_error=True)
    assert str(info.value).startswith(f"{n} task(s) failed: ")
    assert all(re.search(rf"\bt{i}: ", str(info.value)) for i in range(n))
    assert len(rt.get_failed()) == n


def test_exception_group_round_trips(rt):
    if sys.version_info < (3, 11):  # pragma: no cover
        pytest.skip("ExceptionGroup is 3.11+")

    def fails():
        raise ExceptionGroup("many", [ValueError(1), TypeError(2)])  # noqa: F821 (3.11+, guarded)

    with pytest.raises(ExceptionGroup) as info:  # noqa: F821 (3.11+, guarded)
        rt.submit(fails).get()
    assert [type(e) for e in info.value.exceptions] == [ValueError, TypeError]
