"""Code written against upstream's dftracer.utils Runtime API runs here
unchanged: timeouts by upstream's keyword names, native handles used like
TaskHandles, and a public namespace that is exactly what ``__all__`` names
(plus the submodules)."""

from __future__ import annotations

import importlib
import inspect
import threading
import time
import types
from typing import Iterator

import pytest

import dftracer.utils as dft


@pytest.fixture
def rt() -> Iterator[dft.Runtime]:
    with dft.Runtime(threads=1, io_threads=1, watchdog_interval=10, starvation_threshold="60s") as runtime:
        yield runtime


# --- timeouts: upstream's keyword names, positional values, strings with units -------


@pytest.mark.parametrize(
    "call",
    [
        lambda rt: rt.set_default_task_timeout(ms=100),
        lambda rt: rt.set_default_task_timeout(100),
        lambda rt: rt.set_default_task_timeout("100ms"),
        lambda rt: rt.set_default_task_timeout(ms="0.1s"),
    ],
)
def test_default_task_timeout_by_keyword_position_or_unit(rt: dft.Runtime, call) -> None:
    call(rt)
    with pytest.raises(dft.TaskTimeoutError, match="100 ms"):
        rt.submit(time.sleep, 1.0).get()
    rt.set_default_task_timeout()  # no argument: upstream's default 0, no timeout
    assert rt.submit(time.sleep, 0.2).get() is None


@pytest.mark.parametrize(
    "call",
    [
        lambda rt: rt.set_timeout(global_ms=100),
        lambda rt: rt.set_timeout(100),
        lambda rt: rt.set_timeout("100ms"),
        lambda rt: rt.set_timeout(global_ms="0.1s"),
    ],
)
def test_global_timeout_by_keyword_position_or_unit(rt: dft.Runtime, call) -> None:
    gate = threading.Event()
    running = rt.submit(gate.wait, 5)
    call(rt)
    with pytest.raises(dft.TaskTimeoutError, match="runtime timeout of 100 ms"):
        running.get()
    gate.set()
    rt.set_timeout()  # cleared
    assert rt.submit(lambda: 2).get(timeout=5) == 2


def test_timeouts_reject_what_upstream_never_accepted(rt: dft.Runtime) -> None:
    with pytest.raises(ValueError):
        rt.set_timeout(global_ms=-1)
    with pytest.raises(ValueError):
        rt.set_default_task_timeout(ms="soon")
    with pytest.raises(TypeError):
        rt.set_timeout(seconds=1)  # type: ignore[call-arg]


# --- a native handle is used the way a TaskHandle is ---------------------------------


def test_native_handle_get_is_result(rt: dft.Runtime) -> None:
    native = rt.submit(lambda: [1, 2]).native
    assert native is not None
    value = native.get()
    assert value == [1, 2] and native.get() is value is native.result()
    assert native.get(timeout=1.0) is value

    class Boom(Exception):
        pass

    failing = rt.submit(lambda: (_ for _ in ()).throw(Boom("x"))).native
    assert failing is not None
    with pytest.raises(Boom) as first:
        failing.get()
    with pytest.raises(Boom) as second:
        failing.result()
    assert first.value is second.value

    gate = threading.Event()
    slow = rt.submit(gate.wait, 5).native
    assert slow is not None
    with pytest.raises(TimeoutError):
        slow.get(timeout=0.05)
    gate.set()
    assert slow.get() is True
    assert rt.submit(slow).get() is True  # and passes through submit, as before


# --- the public namespace ------------------------------------------------------------


def test_public_namespace_is_all_plus_submodules() -> None:
    public = {name for name in dir(dft) if not name.startswith("_")}
    missing = [name for name in dft.__all__ if not hasattr(dft, name)]
    assert not missing
    extra = public - set(dft.__all__)
    not_modules = [
        name
        for name in extra
        if not (
            isinstance(getattr(dft, name), types.ModuleType) and getattr(dft, name).__name__ == f"dftracer.utils.{name}"
        )
    ]
    assert not not_modules, not_modules


def test_module_level_functions_of_the_api_document_are_exported() -> None:
    for name in (
        "get_default_runtime",
        "peek_default_runtime",
        "set_default_runtime",
        "set_log_level",
        "get_log_level",
        "set_log_color",
        "Runtime",
        "TaskHandle",
    ):
        assert name in dft.__all__, name
        assert callable(getattr(dft, name))


@pytest.mark.parametrize(
    "module_name",
    [
        "dftracer.utils.runtime",
        "dftracer.utils.task_handle",
        "dftracer.utils.default_runtime",
        "dftracer.utils.logging_control",
        "dftracer.utils.progress_types",
        "dftracer.utils.dask",
        "dftracer.utils.dask_progress",
    ],
)
def test_each_modules_all_names_its_public_definitions(module_name: str) -> None:
    if module_name.endswith("dask") or module_name.endswith("dask_progress"):
        pytest.importorskip("distributed")
    module = importlib.import_module(module_name)
    declared = set(module.__all__)
    assert all(hasattr(module, name) for name in declared)
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and getattr(value, "__module__", None) == module_name
    }
    assert defined <= declared, defined - declared
