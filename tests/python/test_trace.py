"""The timeline (Runtime(trace=...)), task dumps and the timeline picture.

A traced run of nested Python tasks, native tasks from the example extension
(tests/native_ext) and I/O tasks is parsed back and checked against a strict
Chrome Trace Event schema: every task once, children inside their parent,
lanes that are real workers. Also: unwritable paths, a write error later,
DFTRACER_UTILS_TRACE, the task dump of a task in time.sleep, the watchdog's
dump in the log, SIGUSR1, the picture, and the overhead benchmark's short form.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.metadata
import json
import logging
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Set

import pytest

import dftracer.utils as dft
from dftracer.utils.demo_traces import merge_chunks, parse_chunk, split_chunks
from dftracer.utils.task_dump import format_task_dump, install_dump_signal_handler
from dftracer.utils.trace import read_trace

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "native_ext"
EXAMPLE_VERSION = (0, 2, 0)


@pytest.fixture(scope="module")
def ext() -> ModuleType:
    """The example extension (installed as test_native_ext.py does)."""
    try:
        installed = importlib.metadata.version("dftracer-native-example")
        current = tuple(int(p) for p in installed.split(".")[:3]) >= EXAMPLE_VERSION
    except importlib.metadata.PackageNotFoundError:
        current = False
    if not current:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", str(EXAMPLE_DIR)], check=True
        )
        importlib.invalidate_caches()
    return importlib.import_module("dftracer_native_example")


# -- a strict Chrome Trace Event check ------------------------------------------

_COMMON = {"id": int, "name": str, "cat": str, "pid": int, "tid": int, "ts": (int, float), "ph": str}
_BY_PHASE: Dict[str, Dict[str, Any]] = {
    "X": {"dur": (int, float), "args": dict},
    "C": {"args": dict},
    "i": {"s": str, "args": dict},
    "M": {"args": dict},
}
_TASK_ARGS: Dict[str, Any] = {
    "task_id": int,
    "parent_id": int,
    "queued_us": (int, float),
    "state": str,
    "error_type": str,
    "error": str,
}
_STATES = {"completed", "failed", "cancelled", "timed_out"}


def check_event(ev: Dict[str, Any]) -> None:
    """Fails unless ``ev`` is a well-formed event of the phases we write:
    every field known and typed, no field left over."""
    ph = ev.get("ph")
    assert ph in _BY_PHASE, f"unknown phase in {ev}"
    allowed = {**_COMMON, **_BY_PHASE[ph]}
    assert set(ev) == set(allowed), f"fields {sorted(set(ev) ^ set(allowed))} wrong in {ev}"
    for key, types in allowed.items():
        assert isinstance(ev[key], types) and not isinstance(ev[key], bool), f"{key} of {ev}"
    assert ev["ts"] >= 0 and ev["pid"] > 0 and ev["tid"] > 0 and ev["id"] >= 0
    args = ev["args"]
    if ph == "X":
        assert ev["dur"] >= 0
        assert {"task_id", "queued_us", "state"} <= set(args) <= set(_TASK_ARGS), args
        for key, value in args.items():
            assert isinstance(value, _TASK_ARGS[key]), (key, args)
        assert args["state"] in _STATES
        assert ("error_type" in args) == (args["state"] in ("failed", "timed_out"))
    elif ph == "C":
        assert args and all(isinstance(v, int) and v >= 0 for v in args.values()), args
    elif ph == "i":
        assert ev["s"] in ("g", "p", "t") and isinstance(args.get("message"), str)
    elif ph == "M":
        assert ev["name"] in ("process_name", "thread_name") and set(args) == {"name"}


def load(path: Path) -> List[Dict[str, Any]]:
    """Every line of the file: '[' first, ']' last, between them one JSON
    object per line with ',' lines between; the whole a valid JSON array."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        text = f.read()
    lines = text.splitlines()
    assert lines[0] == "[" and lines[-1] == "]", (lines[:1], lines[-1:])
    body = lines[1:-1]
    assert all(line == "," for line in body[1::2]), "separator lines"
    events = [json.loads(line) for line in body[0::2]]
    assert json.loads(text) == events  # strict JSON as a whole
    for ev in events:
        check_event(ev)
    return events


# -- the timeline ------------------------------------------------------------------


def _leaf(x: int) -> int:
    return x * x


def _nested(rt: dft.Runtime, depth: int) -> int:
    if depth == 0:
        return _leaf(depth)
    kids = [rt.submit(_nested, rt, depth - 1, name=f"nested-{depth - 1}") for _ in range(2)]
    return sum(k.get() for k in kids) + 1


def _read(path: Path) -> bytes:
    return path.read_bytes()


@pytest.mark.parametrize("suffix", [".pfw", ".pfw.gz"])
def test_traced_run_is_every_task_once_inside_its_parent_on_a_worker(
    tmp_path: Path, ext: ModuleType, suffix: str
) -> None:
    path = tmp_path / f"run{suffix}"
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(4096))
    with dft.Runtime(threads=2, io_threads=2, trace=path) as rt:
        assert rt.tracing
        roots = [rt.submit(_nested, rt, 3, name="nested-3") for _ in range(3)]
        io = [rt.submit_io(_read, data, name="read") for _ in range(4)]
        native = ext.sum_of_squares(rt, 1000, 4)
        crc = ext.checksum_files(rt, [str(data)])
        bad = rt.submit(_leaf, "x", name="bad")
        assert [r.get() for r in roots] == [7, 7, 7]
        assert all(h.get() == data.read_bytes() for h in io)
        assert native.get() == sum(i * i for i in range(1000))
        assert len(crc) == 1 and crc[0].get() >= 0
        with pytest.raises(TypeError):
            bad.get()
    assert not rt.tracing
    events = load(path)

    threads = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    tasks = [e for e in events if e["ph"] == "X"]
    by_id = {t["args"]["task_id"]: t for t in tasks}
    assert len(by_id) == len(tasks), "a task recorded twice"
    # 3 x (1 + 2 + 4 + 8) nested, 4 reads, the native parent with 4 parts, 1 crc, 1 bad.
    assert len(tasks) == 45 + 4 + 5 + 1 + 1
    kinds: Dict[str, Set[str]] = {}
    for t in tasks:
        kinds.setdefault(t["cat"], set()).add(t["name"].split(":")[0])
        # Lanes are the runtime's workers (caller runs may put a root task on this thread).
        lane = threads[t["tid"]]
        assert lane.startswith(("compute worker", "io worker", "caller thread")), lane
        if t["cat"] == "io":
            assert lane.startswith(("io worker", "caller thread")), (lane, t)
        parent = t["args"].get("parent_id")
        if parent is not None and parent in by_id:
            p = by_id[parent]
            assert p["ts"] <= t["ts"] and t["ts"] + t["dur"] <= p["ts"] + p["dur"] + 0.002, (p, t)
    assert {"nested-3", "nested-2", "nested-0", "bad"} <= kinds["python"]
    assert kinds["io"] >= {"read", "crc32"}
    assert {"sum_of_squares", "sum_of_squares.part"} <= kinds["native"]
    bad_event = next(t for t in tasks if t["name"] == "bad")
    assert bad_event["args"]["state"] == "failed" and bad_event["args"]["error_type"] == "TypeError"
    nested_children = [t for t in tasks if t["name"] == "nested-2"]
    assert all(by_id[t["args"]["parent_id"]]["name"] == "nested-3" for t in nested_children)
    counters = [e for e in events if e["ph"] == "C"]
    assert counters and set(counters[0]["args"]) == {"queued", "running", "blocked"}
    # The demo's own reader takes it as it is.
    raw = gzip.decompress(path.read_bytes()) if suffix.endswith(".gz") else path.read_bytes()
    index = merge_chunks(path.name, [parse_chunk(chunk) for chunk in split_chunks(raw, 4000)])
    assert index.events == len(events) and index.by_category["python"] >= 45
    assert list(read_trace(path)) == events


def test_unwritable_path_is_a_clear_error_at_start(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="nope/run.pfw"):
        dft.Runtime(threads=1, trace=tmp_path / "nope" / "run.pfw")
    if stat.S_ISCHR(os.stat("/dev/full").st_mode):
        with pytest.raises(OSError, match="/dev/full"):  # opens, the first write fails: a full disk
            dft.Runtime(threads=1, trace="/dev/full")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        if os.access(read_only, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        with dft.Runtime(threads=1) as rt:
            with pytest.raises(OSError, match="Permission denied"):
                rt.start_trace(read_only / "run.pfw.gz")
            assert not rt.tracing
            assert rt.submit(_leaf, 3).get() == 9  # the runtime is fine
    finally:
        read_only.chmod(0o700)


def test_write_error_later_is_logged_once_and_tracing_stops(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "limited.pfw"
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    caplog.set_level(logging.ERROR, logger="dftracer.utils.trace")
    try:
        with dft.Runtime(threads=2) as rt:
            # A file size limit makes later writes fail (EFBIG), as a full disk would.
            resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, old[1]))
            rt.start_trace(path, flush_interval=0.005)
            for _ in range(200):
                if not rt.tracing:
                    break
                for h in [rt.submit(_leaf, i, name="a-task-with-a-long-name") for i in range(200)]:
                    h.get()
                time.sleep(0.005)
            assert not rt.tracing
            assert rt.submit(_leaf, 4).get() == 16  # the run goes on
            summary = rt.stop_trace()
            assert summary is not None and summary["error"] and str(path) in summary["error"]
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, old_handler)
    errors = [r for r in caplog.records if r.name == "dftracer.utils.trace"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "tracing stopped" in errors[0].getMessage()


def test_start_and_stop_trace_and_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python_script: Any
) -> None:
    with dft.Runtime(threads=1) as rt:
        assert rt.stop_trace() is None
        rt.submit(_leaf, 1).get()  # before: not traced
        rt.start_trace(tmp_path / "a.pfw")
        with pytest.raises(RuntimeError, match="already tracing"):
            rt.start_trace(tmp_path / "b.pfw")
        rt.submit(_leaf, 2, name="traced").get()
        summary = rt.stop_trace()
        assert summary is not None and summary["error"] is None and summary["dropped"] == 0
        rt.submit(_leaf, 3).get()  # after: not traced
    names = [e["name"] for e in load(tmp_path / "a.pfw") if e["ph"] == "X"]
    assert names == ["traced"]

    out = tmp_path / "env-{pid}.pfw.gz"
    proc = python_script(
        "import dftracer.utils as dft, os\n"
        "with dft.Runtime(threads=1) as a, dft.Runtime(threads=1) as b:\n"
        "    a.submit(len, 'ab', name='in-a').get(); b.submit(len, 'c', name='in-b').get()\n"
        "print(os.getpid())\n",
        env={**os.environ, "DFTRACER_UTILS_TRACE": str(out)},
    )
    pid = proc.stdout.strip().splitlines()[-1]
    first = tmp_path / f"env-{pid}.pfw.gz"
    second = tmp_path / f"env-{pid}-2.pfw.gz"
    assert [e["name"] for e in load(first) if e["ph"] == "X"] == ["in-a"]
    assert [e["name"] for e in load(second) if e["ph"] == "X"] == ["in-b"]


def test_watchdog_actions_are_instant_events(tmp_path: Path) -> None:
    path = tmp_path / "watchdog.pfw"
    with dft.Runtime(
        threads=1, caller_runs=False, watchdog_interval=10, long_task_threshold=50, starvation_threshold=50, trace=path
    ) as rt:
        slow = rt.submit(time.sleep, 0.3, name="slow")
        quick = rt.submit(_leaf, 2, name="quick")
        assert quick.get() == 4
        slow.get()
    instants = {e["name"] for e in load(path) if e["ph"] == "i"}
    assert {"long task", "starvation: temporary worker added"} <= instants


# -- task dumps --------------------------------------------------------------------


def _sleeper(started: threading.Event) -> None:
    started.set()
    time.sleep(0.5)  # the dump's innermost frame


def _waits_for(h: dft.TaskHandle[None]) -> None:
    h.get()


def test_dump_shows_a_sleeping_task_at_its_time_sleep_line(wait_until: Any) -> None:
    with dft.Runtime(threads=2, caller_runs=False) as rt:
        started = threading.Event()
        sleeper = rt.submit(_sleeper, started, name="sleeper")
        assert started.wait(10)
        waiter = rt.submit(_waits_for, sleeper, name="waiter")
        assert wait_until(lambda: any(t["name"] == "waiter" and t["blocked"] for t in rt.dump_tasks()))
        dump = {t["name"]: t for t in rt.dump_tasks()}
        s = dump["sleeper"]
        assert s["kind"] == "python" and s["worker"] is not None and s["worker"].startswith("compute worker")
        assert s["running_s"] > 0 and s["waits_on"] == "nothing visible"
        inner = s["stack"][-1]
        assert inner["function"] == "_sleeper" and "time.sleep" in inner["code"] and inner["file"] == __file__
        w = dump["waiter"]
        assert w["waiting_on"] == sleeper.task_id and w["waits_on"] == f"task {sleeper.task_id} 'sleeper'"
        assert any(f["function"] == "_waits_for" for f in w["stack"])
        text = format_task_dump(rt.dump_tasks())
        assert "sleeper" in text and "time.sleep(0.5)" in text and f"waits on task {sleeper.task_id}" in text
        waiter.get()
        assert rt.dump_tasks() == []


def test_dump_of_a_native_task_has_no_stack(ext: ModuleType, wait_until: Any) -> None:
    with dft.Runtime(threads=2) as rt:
        gates = [ext.Gate(), ext.Gate()]
        combined, inputs = ext.when_all_of(rt, [1, 2], gates)
        try:
            assert wait_until(lambda: {"input0", "input1"} <= {t["name"] for t in rt.dump_tasks()})
            dump = [t for t in rt.dump_tasks() if t["name"].startswith("input")]
            assert all(t["kind"] == "native" and t["stack"] == [] and t["worker"] for t in dump), dump
        finally:
            for g in gates:
                g.open()
        assert rt.submit(combined).get(timeout=30) == 0


def test_watchdog_logs_a_dump_with_the_long_task_report(caplog: pytest.LogCaptureFixture, wait_until: Any) -> None:
    caplog.set_level(logging.WARNING, logger="dftracer.utils")
    with dft.Runtime(threads=1, watchdog_interval=10, long_task_threshold=50) as rt:
        started = threading.Event()
        rt.submit(_sleeper, started, name="sleeper").get()
        assert wait_until(lambda: any("task dump" in r.getMessage() for r in caplog.records))
    dumps = [r.getMessage() for r in caplog.records if "task dump" in r.getMessage()]
    assert "sleeper" in dumps[0] and "time.sleep(0.5)" in dumps[0]
    assert len(dumps[0]) <= 16000


def test_sigusr1_logs_a_dump_when_opted_in(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dftracer.utils")
    old = signal.getsignal(signal.SIGUSR1)
    try:
        with dft.Runtime(threads=1, caller_runs=False) as rt:
            install_dump_signal_handler(rt)
            started = threading.Event()
            h = rt.submit(_sleeper, started, name="sleeper")
            assert started.wait(10)
            os.kill(os.getpid(), signal.SIGUSR1)
            h.get()  # the handler runs inside this wait (signals are checked in slices)
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "on signal" in text and "sleeper" in text and "_sleeper" in text
    finally:
        signal.signal(signal.SIGUSR1, old)
        from dftracer.utils import task_dump

        task_dump._installed.clear()


# -- the picture and the benchmark --------------------------------------------------


def test_timeline_picture_is_drawn(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from dftracer.utils.cli import main

    trace = tmp_path / "run.pfw.gz"
    with dft.Runtime(threads=2, io_threads=1, trace=trace) as rt:
        for h in [rt.submit(_nested, rt, 3, name="nested-3") for _ in range(4)]:
            h.get()
        rt.submit_io(time.sleep, 0.01, name="io-sleep").get()
    out = tmp_path / "timeline.png"
    assert main(["timeline", str(trace), "-o", str(out)]) == 0
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert main(["timeline", str(trace), "-o", str(tmp_path / "by-name.svg"), "--color-by", "name"]) == 0
    assert b"nested" in (tmp_path / "by-name.svg").read_bytes()


def test_timeline_of_a_trace_without_tasks_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    from dftracer.utils.cli import main

    trace = tmp_path / "empty.pfw"
    with dft.Runtime(threads=1, trace=trace):
        pass
    assert main(["timeline", str(trace), "-o", str(tmp_path / "x.png")]) == 1
    assert "no task events" in capsys.readouterr().err


def test_trace_overhead_benchmark_short_form() -> None:
    from dftracer.utils.bench_trace import format_trace_overhead, run_trace_overhead

    results = run_trace_overhead(n_python=2000, n_native=2000, repeats=1, threads=2)
    assert [r.case for r in results] == ["python", "native"]
    for r in results:
        assert r.traced_events == r.tasks  # every measured task was traced
        assert r.off_s_per_task > 0 and r.on_s_per_task > 0
    table = format_trace_overhead(results)
    assert "python task" in table and "native task" in table
