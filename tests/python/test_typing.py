"""Static typing of the public API, checked by ``python -m mypy`` (this file
is part of its ``files``) and run by pytest so it stays executable.

``assert_type`` pins inferred types; a ``# type: ignore[code]`` marks a call
mypy must reject: strict mode's ``warn_unused_ignores`` turns a call that
stopped being an error into a mypy failure.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Optional

import pytest

if sys.version_info >= (3, 11):
    from typing import assert_type
else:  # pragma: no cover
    from typing_extensions import assert_type

import dftracer.utils as dft
from dftracer.utils import TaskHandle, _core
from dftracer.utils.progress_types import Progress


def add(x: int, y: int) -> int:
    return x + y


def keyword_only(x: int, *, scale: float = 1.0) -> float:
    return x * scale


def test_submit_carries_the_result_type() -> None:
    with dft.Runtime(threads=1) as rt:
        h = rt.submit(add, 3, 4)
        assert_type(h, TaskHandle[int])
        assert_type(h.get(), int)
        assert_type(rt.submit(add, 3, 4, name="add"), TaskHandle[int])
        assert_type(rt.submit(keyword_only, 2, scale=0.5), TaskHandle[float])
        assert_type(rt.submit(lambda: "text"), TaskHandle[str])
        assert_type(rt.submit(h), TaskHandle[int])
        assert_type(rt.submit_io(add, 1, 2), TaskHandle[int])
        assert h.get() == 7


def test_submit_rejects_wrong_arguments_statically() -> None:
    with dft.Runtime(threads=1) as rt:
        with pytest.raises(TypeError):
            rt.submit(add, "3", 4).get()  # type: ignore[call-overload]
        with pytest.raises(TypeError):
            rt.submit(add, 3).get()  # type: ignore[call-overload]
        with pytest.raises(TypeError):
            rt.submit(add, 3, 4, name=5)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            rt.submit(42)  # type: ignore[call-overload]


def test_handle_and_runtime_members_are_typed() -> None:
    fut: cf.Future[bytes] = cf.Future()
    fut.set_result(b"x")
    h = TaskHandle(future=fut, name="f")
    assert_type(h, TaskHandle[bytes])
    assert_type(h.get(timeout=1.0), bytes)
    assert_type(h.exception, Optional[BaseException])
    assert_type(h.done(), bool)
    assert_type(h.name, str)
    assert_type(h.task_id, int)
    with dft.Runtime(threads=1, io_threads=1, python_threads=1) as rt:
        assert_type(rt.threads, int)
        assert_type(rt.get_failed(), List[TaskHandle[Any]])
        progress = rt.get_progress()
        assert_type(progress, Progress)
        assert_type(progress["workers"][0]["queue_depth"], int)
        assert_type(progress["tasks"], List[dft.progress_types.TaskProgress])
        assert_type(rt.wait_all(raise_on_error=True), None)


def test_error_callback_type_is_checked() -> None:
    with dft.Runtime(threads=1) as rt:

        def on_error(handle: TaskHandle[Any], exc: BaseException) -> None:
            pass

        rt.set_error_callback(on_error)
        rt.set_error_callback(None)
        rt.set_error_callback(lambda h: None)  # type: ignore[arg-type,misc]


def test_core_stub_describes_the_extension() -> None:
    assert_type(_core.default_thread_count(), int)
    assert_type(_core.C_API_VERSION, tuple[int, int])
    native = _core._NativeRuntime(1, 1, 0, 16)
    try:
        handle = native.submit_python(add, (1, 2), {}, "add")
        assert isinstance(handle, dft.TaskHandle)
        assert handle.get(10.0) == 3
        assert handle.native is not None and native.owns(handle.native)
        assert native.submit_python(42, (), {}, None) is None  # not callable: the caller decides
    finally:
        native.shutdown(True)


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="needs mypy")
def test_stub_matches_the_built_extension_module() -> None:
    allowlist = Path(__file__).with_name("stubtest_allowlist.txt")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "dftracer.utils._core", "--allowlist", str(allowlist)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
