"""Module-level default runtime: get_default_runtime, peek_default_runtime,
set_default_runtime (the API document's module-level functions), and the
sizes it takes from the environment. Inside Dask tasks: see test_dask.py."""

from __future__ import annotations

import gc
import threading
from typing import Iterator, List, Optional

import pytest

import dftracer.utils as dft


@pytest.fixture(autouse=True)
def no_default() -> Iterator[None]:
    """Each test starts without a process default and leaves the one it found."""
    before = dft.peek_default_runtime()
    dft.set_default_runtime(None)
    yield
    current = dft.peek_default_runtime()
    dft.set_default_runtime(before if before is not None and not before._is_unusable() else None)
    if current is not None and current is not before:
        current.shutdown(wait=False)


def test_peek_never_creates_a_runtime() -> None:
    assert dft.peek_default_runtime() is None
    assert dft.peek_default_runtime() is None


def test_get_creates_one_runtime_on_first_use_and_returns_it_after() -> None:
    rt = dft.get_default_runtime()
    assert isinstance(rt, dft.Runtime)
    assert dft.get_default_runtime() is rt
    assert dft.peek_default_runtime() is rt
    assert rt.submit(lambda: 6 * 7).get() == 42


def test_set_default_runtime_makes_it_the_default_and_none_resets() -> None:
    with dft.Runtime(threads=1, io_threads=1) as mine:
        dft.set_default_runtime(mine)
        assert dft.get_default_runtime() is mine
        assert dft.peek_default_runtime() is mine
        dft.set_default_runtime(None)
        assert dft.peek_default_runtime() is None
        fresh = dft.get_default_runtime()
        assert fresh is not mine
        assert mine.submit(len, "abc").get() == 3  # still the program's to use


def test_replacing_the_default_does_not_shut_the_previous_one_down() -> None:
    first = dft.Runtime(threads=1, io_threads=1)
    second = dft.Runtime(threads=1, io_threads=1)
    try:
        dft.set_default_runtime(first)
        dft.set_default_runtime(second)
        assert not first._native.is_shut_down
        assert first.submit(len, "ab").get() == 2
        assert dft.get_default_runtime() is second
    finally:
        dft.set_default_runtime(None)
        first.shutdown()
        second.shutdown()


def test_a_created_default_keeps_running_its_tasks_after_it_is_replaced() -> None:
    gate = threading.Event()
    handle = dft.get_default_runtime().submit(lambda: gate.wait(10) and "finished")
    dft.set_default_runtime(None)  # nobody else holds the created runtime
    gc.collect()
    gate.set()
    assert handle.get(timeout=10) == "finished"


def test_a_shut_down_default_is_replaced_by_a_new_one() -> None:
    rt = dft.get_default_runtime()
    rt.shutdown()
    assert dft.peek_default_runtime() is None
    again = dft.get_default_runtime()
    assert again is not rt and not again._native.is_shut_down


def test_set_default_runtime_rejects_what_is_not_a_usable_runtime() -> None:
    with pytest.raises(TypeError, match="Runtime or None"):
        dft.set_default_runtime("runtime")  # type: ignore[arg-type]
    rt = dft.Runtime(threads=1, io_threads=1)
    rt.shutdown()
    with pytest.raises(ValueError, match="shut down"):
        dft.set_default_runtime(rt)
    assert dft.peek_default_runtime() is None


def test_concurrent_first_use_creates_exactly_one_runtime() -> None:
    seen: List[Optional[dft.Runtime]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def grab() -> None:
        start.wait()
        rt = dft.get_default_runtime()
        with lock:
            seen.append(rt)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len({id(rt) for rt in seen}) == 1


def test_inside_a_task_without_dask_the_default_is_the_process_default() -> None:
    with dft.Runtime(threads=1, io_threads=1) as rt:
        default = dft.get_default_runtime()
        assert rt.submit(dft.get_default_runtime).get() is default


def test_a_fresh_process_has_no_default_and_sizes_it_from_the_environment(python_script) -> None:
    proc = python_script(
        """
        import dftracer.utils as dft
        assert dft.peek_default_runtime() is None
        rt = dft.get_default_runtime()
        print(rt.threads, rt.io_threads)
        """,
        env={"DFTRACER_UTILS_THREADS": "2", "DFTRACER_UTILS_IO_THREADS": "3"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2", "3"]


def test_io_threads_zero_follows_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFTRACER_UTILS_IO_THREADS", "3")
    with dft.Runtime(threads=1) as rt:
        assert rt.io_threads == 3
    with dft.Runtime(threads=1, io_threads=1) as rt:
        assert rt.io_threads == 1  # an explicit size wins


@pytest.mark.parametrize("bad", ["abc", "-2", "1.5"])
def test_an_invalid_io_threads_variable_is_logged_and_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    monkeypatch.setenv("DFTRACER_UTILS_IO_THREADS", bad)
    with dft.Runtime(threads=2) as rt:
        assert rt.io_threads == 2  # as many as the compute pool
    assert any("DFTRACER_UTILS_IO_THREADS" in r.getMessage() for r in caplog.records)


def test_info_command_shows_what_the_environment_resolves_to() -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, DFTRACER_UTILS_IO_THREADS="5", DFTRACER_UTILS_LOG_LEVEL="debug")
    proc = subprocess.run(
        [sys.executable, "-m", "dftracer.utils", "info"], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "io_threads=0 -> 5 I/O threads (DFTRACER_UTILS_IO_THREADS=5)" in proc.stdout
    assert "log level:      debug" in proc.stdout
