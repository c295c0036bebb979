"""Native tasks from another extension, through the C ABI.

The example extension (tests/native_ext) is built against the installed
wheel with find_package(DFTracerUtils); it is installed once per session if
it is not importable yet (scripts/test.sh installs it beforehand).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, List

import pytest

import dftracer.utils as dft

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "native_ext"


@pytest.fixture(scope="session")
def ext() -> ModuleType:
    try:
        return importlib.import_module("dftracer_native_example")
    except ImportError:
        pass
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", str(EXAMPLE_DIR)],
        check=True,
    )
    importlib.invalidate_caches()
    return importlib.import_module("dftracer_native_example")


@pytest.fixture
def rt() -> Iterator[dft.Runtime]:
    with dft.Runtime(threads=2, io_threads=2) as runtime:
        yield runtime


@pytest.fixture
def files(tmp_path: Path) -> List[Path]:
    paths = []
    for i in range(6):
        p = tmp_path / f"data-{i}.bin"
        p.write_bytes(os.urandom(50_000 + 1000 * i))
        paths.append(p)
    return paths


def test_native_checksums_pass_through_submit_and_are_right(ext: Any, rt: dft.Runtime, files: List[Path]) -> None:
    handles = [rt.submit(h) for h in ext.checksum_files(rt, [str(p) for p in files])]
    assert [h.get() for h in handles] == [zlib.crc32(p.read_bytes()) for p in files]
    assert handles[0].name == "crc32:data-0.bin"
    assert all(isinstance(h, dft.TaskHandle) and h.task_id > 0 for h in handles)


def test_native_tasks_are_covered_by_wait_all_and_progress(ext: Any, rt: dft.Runtime, files: List[Path]) -> None:
    ext.checksum_files(rt, [str(p) for p in files])  # handles dropped: wait_all must still cover them
    rt.wait_all()
    progress = rt.get_progress()
    assert progress["completed"] == len(files)
    names = {t["name"] for t in progress["tasks"]}
    assert {f"crc32:{p.name}" for p in files} <= names
    done = [t for t in progress["tasks"] if t["name"].startswith("crc32:")]
    assert all(t["progress_pct"] == 100.0 for t in done)


def test_cpu_bound_native_fan_out_result(ext: Any, rt: dft.Runtime) -> None:
    n = 200_000
    h = rt.submit(ext.sum_of_squares(rt, n, 16))
    assert h.get() == sum(i * i for i in range(n))
    assert h.name == "sum_of_squares"


def test_native_fan_out_on_one_thread_does_not_deadlock(ext: Any) -> None:
    with dft.Runtime(threads=1) as rt1:
        assert rt1.submit(ext.sum_of_squares(rt1, 1000, 32)).get(timeout=30) == sum(i * i for i in range(1000))


def test_native_failure_reaches_python_with_its_message(ext: Any, rt: dft.Runtime) -> None:
    seen: List[Any] = []
    rt.set_error_callback(lambda h, e: seen.append((h.name, str(e))))
    h = rt.submit(ext.fail_with(rt, "disk on fire"))
    with pytest.raises(RuntimeError, match="disk on fire"):
        h.get()
    assert seen == [("fail_with", "disk on fire")]
    assert [f.name for f in rt.get_failed()] == ["fail_with"]
    assert "disk on fire" in str(rt.get_failed()[0].exception)
    errors = rt.get_progress()["errors"]
    assert errors and errors[-1]["name"] == "fail_with" and "disk on fire" in errors[-1]["message"]


def test_native_failure_counts_in_wait_all_raise_on_error(ext: Any, rt: dft.Runtime) -> None:
    ext.fail_with(rt, "bad block")
    with pytest.raises(RuntimeError, match=r"1 task\(s\) failed: fail_with: RuntimeError: bad block"):
        rt.wait_all(raise_on_error=True)


def test_native_and_python_tasks_interleave_on_one_pool(ext: Any, rt: dft.Runtime, files: List[Path]) -> None:
    worker_threads: set[int] = set()
    lock = threading.Lock()

    def py_task(i: int) -> int:
        with lock:
            worker_threads.add(threading.get_ident())
        return i

    mixed: List[dft.TaskHandle[Any]] = []
    for i in range(20):
        mixed.append(rt.submit(py_task, i))
        mixed.append(rt.submit(ext.sum_of_squares(rt, 100 + i, 2)))
    results = [h.get() for h in mixed]
    assert results[0::2] == list(range(20))
    assert results[1::2] == [sum(k * k for k in range(100 + i)) for i in range(20)]
    assert threading.get_ident() not in worker_threads  # ran on the pool, not the caller


def test_text_results_arrive_as_str(ext: Any, rt: dft.Runtime) -> None:
    assert rt.submit(ext.greet(rt, "ada")).get() == "hello, ada"


def test_extension_coroutine_awaits_work_on_the_pool(ext: Any, rt: dft.Runtime) -> None:
    assert ext.double_via_coroutine(rt, 21) == 42


def test_wrong_major_version_is_rejected_with_both_versions(ext: Any) -> None:
    ext.import_with_major(ext.C_API_MAJOR)  # the right one imports
    with pytest.raises(RuntimeError, match=r"major version 1 but this extension was built for major version 99"):
        ext.import_with_major(99)


def test_submit_to_a_shut_down_runtime(ext: Any, files: List[Path]) -> None:
    runtime = dft.Runtime(threads=1)
    assert ext.submit_after_shutdown(runtime) == ext.DFT_SHUT_DOWN
    with pytest.raises(RuntimeError, match="shut down"):
        ext.checksum_files(runtime, [str(files[0])])


def test_handle_from_another_runtime_is_refused(ext: Any, rt: dft.Runtime) -> None:
    with dft.Runtime(threads=1) as other:
        native = ext.greet(other, "x")
        with pytest.raises(ValueError, match="another Runtime"):
            rt.submit(native)
        assert other.submit(native).get() == "hello, x"


def test_include_and_cmake_dirs_ship_in_the_wheel() -> None:
    include = Path(dft.get_include())
    assert (include / "dftracer" / "utils" / "c_api.h").is_file()
    assert (include / "dftracer" / "utils" / "c_api.hpp").is_file()
    assert (Path(dft.get_cmake_dir()) / "DFTracerUtilsConfig.cmake").is_file()
