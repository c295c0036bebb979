"""Native tasks from another extension, through the C ABI.

The example extension (tests/native_ext) is built against the installed
wheel with find_package(DFTracerUtils); it is installed once per session if
it is not importable yet (scripts/test.sh installs it beforehand).
"""

from __future__ import annotations

import importlib
import importlib.metadata
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


# The example's version these tests are written for (tests/native_ext/pyproject.toml).
EXAMPLE_VERSION = (0, 2, 0)


def _example_is_current() -> bool:
    try:
        installed = importlib.metadata.version("dftracer-native-example")
    except importlib.metadata.PackageNotFoundError:
        return False
    return tuple(int(p) for p in installed.split(".")[:3]) >= EXAMPLE_VERSION


@pytest.fixture(scope="session")
def _example_installed() -> None:
    # Checked before the first import: an extension module cannot be
    # reloaded, so a stale build must be replaced before anything loads it.
    if not _example_is_current():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", str(EXAMPLE_DIR)],
            check=True,
        )
        importlib.invalidate_caches()


@pytest.fixture(scope="session")
def ext(_example_installed: None) -> ModuleType:
    return importlib.import_module("dftracer_native_example")


@pytest.fixture(scope="session")
def ext_v1_0(_example_installed: None) -> ModuleType:
    """The example built against the frozen C ABI 1.0 headers."""
    return importlib.import_module("dftracer_native_example_v1_0")


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


def test_native_and_python_tasks_interleave_on_one_pool(ext: Any, files: List[Path]) -> None:
    # caller_runs=False: otherwise this thread, waiting in get(), may run a
    # Python task nobody has started yet itself.
    with dft.Runtime(threads=2, io_threads=2, caller_runs=False) as rt:
        _interleave(ext, rt)


def _interleave(ext: Any, rt: dft.Runtime) -> None:
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


@pytest.mark.skipif(
    os.environ.get("DFTRACER_UNDER_ASAN") == "1", reason="the ASan pass stages the sources and the module, not a wheel"
)
def test_include_and_cmake_dirs_ship_in_the_wheel() -> None:
    include = Path(dft.get_include())
    assert (include / "dftracer" / "utils" / "c_api.h").is_file()
    assert (include / "dftracer" / "utils" / "c_api.hpp").is_file()
    assert (Path(dft.get_cmake_dir()) / "DFTracerUtilsConfig.cmake").is_file()


# ---- C ABI 1.1: when_all / when_any ----------------------------------------


@pytest.fixture
def wide_rt() -> Iterator[dft.Runtime]:
    # Inputs waiting on a gate hold their worker (polling, invisible to the
    # pool): one worker per gated input, plus room for the rest.
    with dft.Runtime(threads=6, io_threads=1) as runtime:
        yield runtime


def test_c_api_version_is_1_1(ext: Any) -> None:
    from dftracer.utils import _core

    assert _core.C_API_VERSION == (1, 1)
    assert (ext.C_API_MAJOR, ext.C_API_MINOR) == (1, 1)


def test_when_any_completes_with_the_index_of_the_first_input_to_finish(ext: Any, wide_rt: dft.Runtime) -> None:
    gates = [ext.Gate() for _ in range(3)]
    combined, inputs = ext.when_any_of(wide_rt, [10, 20, 30], gates)
    any_handle = wide_rt.submit(combined)
    assert any_handle.name == "when_any"
    assert not any_handle.done()
    gates[2].open()
    assert any_handle.get(timeout=30) == 2
    assert wide_rt.submit(inputs[2]).get() == 30
    # The others were neither waited for nor cancelled: still running.
    assert not inputs[0].done() and not inputs[1].done()
    gates[0].open()
    gates[1].open()
    assert [wide_rt.submit(h).get(timeout=30) for h in inputs] == [10, 20, 30]
    assert any_handle.get() == 2  # a later finisher does not change it


def test_when_any_counts_a_failed_input_as_finished(ext: Any, wide_rt: dft.Runtime) -> None:
    gates = [ext.Gate(), ext.Gate()]
    combined, inputs = ext.when_any_of(wide_rt, [1, 2], gates, fail_at=1)
    gates[1].open()
    assert wide_rt.submit(combined).get(timeout=30) == 1  # the combined task itself succeeds
    with pytest.raises(RuntimeError, match="input failed on purpose"):
        wide_rt.submit(inputs[1]).get()
    gates[0].open()
    wide_rt.wait_all()


def test_when_all_completes_only_after_the_last_input(ext: Any, wide_rt: dft.Runtime) -> None:
    gates = [ext.Gate() for _ in range(4)]
    combined, inputs = ext.when_all_of(wide_rt, [1, 2, 3, 4], gates)
    all_handle = wide_rt.submit(combined)
    for g in gates[:3]:
        g.open()
    for h in inputs[:3]:
        wide_rt.submit(h).get(timeout=30)
    assert not all_handle.done()  # the fourth input is still waiting on its gate
    gates[3].open()
    assert all_handle.get(timeout=30) == 0  # no input failed
    assert all_handle.name == "when_all"


def test_when_all_reports_how_many_inputs_failed_and_never_fails_itself(ext: Any, rt: dft.Runtime) -> None:
    seen: List[str] = []
    rt.set_error_callback(lambda h, e: seen.append(h.name))
    gates = [ext.Gate(opened=True) for _ in range(3)]
    combined, inputs = ext.when_all_of(rt, [5, 6, 7], gates, fail_at=1)
    assert rt.submit(combined).get(timeout=30) == 1
    with pytest.raises(RuntimeError, match="input failed on purpose"):
        rt.submit(inputs[1]).get()
    rt.wait_all()
    assert seen == ["input1"]  # the combined task is not reported as a failure


def test_combinators_over_finished_inputs_complete_at_once(ext: Any, rt: dft.Runtime) -> None:
    gates = [ext.Gate(opened=True) for _ in range(3)]
    combined, inputs = ext.when_all_of(rt, [1, 2, 3], gates)
    for h in inputs:
        rt.submit(h).get(timeout=30)
    assert rt.submit(ext.when_all_of(rt, [4], [ext.Gate(opened=True)])[0]).get(timeout=30) == 0
    assert rt.submit(combined).get(timeout=30) == 0


def test_combined_tasks_are_covered_by_wait_all_and_progress(ext: Any, rt: dft.Runtime) -> None:
    gates = [ext.Gate(opened=True), ext.Gate(opened=True)]
    ext.when_any_of(rt, [1, 2], gates)  # handles dropped
    ext.when_all_of(rt, [1, 2], [ext.Gate(opened=True), ext.Gate(opened=True)])
    rt.wait_all()
    names = [t["name"] for t in rt.get_progress()["tasks"]]
    assert "when_any" in names and "when_all" in names


def test_parent_completes_from_a_when_all_callback_without_blocking_its_worker(ext: Any) -> None:
    # One worker: a parent that waited on its children would need a spare
    # thread; this one returns at once and completes from the callback.
    with dft.Runtime(threads=1) as rt1:
        n, parts = 20_000, 16
        assert rt1.submit(ext.fan_out_sum(rt1, n, parts)).get(timeout=30) == sum(i * i for i in range(n))


def test_pending_task_completed_from_a_callback_survives_its_handle_dropped_at_once(ext: Any) -> None:
    # The completion releases get(), whose caller drops the last handle while
    # the completer (a worker, in the done callback) still runs the task's
    # finishing steps: they must not run on freed memory (a segfault in 1 of
    # 3 runs of 400 rounds when the completer borrowed the task without a
    # reference of its own).
    # (~1 ms a round.) The Python task waiting on the native one drops it.
    n, parts = 20_000, 16
    want = sum(i * i for i in range(n))
    for _ in range(1500):
        with dft.Runtime(threads=1) as rt1:
            assert rt1.submit(ext.fan_out_sum(rt1, n, parts)).get(timeout=30) == want


def test_extension_coroutine_awaits_when_any(ext: Any, wide_rt: dft.Runtime) -> None:
    gates = [ext.Gate(), ext.Gate(opened=True), ext.Gate()]
    assert ext.first_via_coroutine(wide_rt, [7, 8, 9], gates) == 1
    gates[0].open()
    gates[2].open()
    wide_rt.wait_all()


@pytest.mark.parametrize("any_", [True, False])
def test_combinators_reject_bad_arguments(ext: Any, rt: dft.Runtime, any_: bool) -> None:
    assert ext.combinator_status(rt, None, "empty", any_) == ext.DFT_BAD_ARGUMENT
    assert ext.combinator_status(rt, None, "null", any_) == ext.DFT_BAD_ARGUMENT
    with dft.Runtime(threads=1) as other:
        assert ext.combinator_status(rt, other, "mixed", any_) == ext.DFT_BAD_ARGUMENT


def test_new_entries_on_an_old_table_raise_naming_both_versions(ext: Any) -> None:
    # What an extension built with the 1.1 header says on a 1.0 runtime.
    with pytest.raises(
        RuntimeError, match=r"ext::when_all needs dftracer.utils C ABI 1\.1 but the installed module provides 1\.0"
    ):
        ext.require_when_all_from_table_of(ext.V1_0_STRUCT_SIZE, 0)
    ext.require_when_all_from_table_of(ext.BUILT_STRUCT_SIZE, 1)  # the real table has it
    assert ext.V1_0_STRUCT_SIZE < ext.BUILT_STRUCT_SIZE


def test_extension_built_against_abi_1_0_loads_and_works(ext: Any, ext_v1_0: Any, rt: dft.Runtime) -> None:
    assert (ext_v1_0.BUILT_MAJOR, ext_v1_0.BUILT_MINOR) == (1, 0)
    major, minor, struct_size = ext_v1_0.loaded_version()
    assert (major, minor) == (1, 1)
    assert struct_size > ext_v1_0.BUILT_STRUCT_SIZE  # it sees a prefix of a longer table
    assert ext_v1_0.BUILT_STRUCT_SIZE == ext.V1_0_STRUCT_SIZE  # and 1.1 appended after 1.0's end
    assert rt.submit(ext_v1_0.square(rt, 12)).get(timeout=30) == 144
    assert rt.submit(ext_v1_0.nested(rt, 4)).get(timeout=30) == 50
    rt.wait_all()
