"""The main job (``python -m dftracer.utils demo``, scripts/run.sh): what it
prints is true: the bad files are named, the counts match what was
written, the one-pool peer deadlocks, and a non-terminal gets whole lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dftracer.utils as dft
from dftracer.utils.demo import Timeline, index_with_runtime, index_with_thread_pools, nested_on_one_thread_pool
from dftracer.utils.demo_traces import generate_traces, merge_chunks, parse_chunk, read_trace, split_chunks


@pytest.fixture
def traces(tmp_path: Path):
    return generate_traces(tmp_path, files=3, events_per_file=900)


def test_the_demo_runs_small_and_reports_the_bad_files_by_name(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "dftracer.utils", "demo", "--files", "3", "--events", "1500", "--chunk-lines", "400"]
    cmd += ["--timeout", "1", "--speed-scale", "0.05", "--dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "indexed 3 files" in out and "as many as were written" in out
    assert "failed:    corrupt-0000.pfw.gz: ValueError: line " in out
    assert "timed out: stalled-0000.pfw.gz: TaskTimeoutError" in out
    assert "deadlock" in out
    assert "RESULTS DIFFER" not in out
    # Not a terminal: whole progress lines naming what the workers run, no carriage returns.
    assert "\r" not in proc.stderr
    assert "index: 5/5 100%" in proc.stderr


def test_runtime_and_thread_pools_index_the_same(traces) -> None:
    good = [p for p in traces.paths if p.name not in traces.stalled and p.name != traces.corrupt]
    with dft.Runtime(threads=2, io_threads=1) as rt:
        ours = sorted((h.get() for h in index_with_runtime(rt, good, 200)), key=lambda i: i.name)
    theirs = [f.result() for f in index_with_thread_pools(2, good, 200)]
    assert ours == theirs
    assert sum(i.events for i in ours) == traces.events
    assert all(i.chunks == 5 for i in ours)  # 900 lines, 200 a chunk


def test_one_file_indexed_whole_equals_its_chunks_merged(traces) -> None:
    data = read_trace(traces.paths[0])
    whole = merge_chunks("f", [parse_chunk(split_chunks(data, 10**9)[0])])
    parts = merge_chunks("f", [parse_chunk(c) for c in split_chunks(data, 7)])
    assert whole.by_category == parts.by_category and whole.io_bytes == parts.io_bytes
    assert (whole.first_ts, whole.last_end) == (parts.first_ts, parts.last_end)
    assert whole.span_s > 0


def test_the_corrupt_line_is_named_by_its_line_number(traces) -> None:
    corrupt = next(p for p in traces.paths if p.name == traces.corrupt)
    chunks = split_chunks(read_trace(corrupt), 100)
    # The middle line of 901 ("[" and 900 events) is line 451 of the file.
    with pytest.raises(ValueError, match=r"line 451: not JSON"):
        for i, c in enumerate(chunks):
            parse_chunk(c, i * 100)


def test_the_stalled_file_times_out_on_the_runtime(traces) -> None:
    stalled = [p for p in traces.paths if p.name in traces.stalled]
    with dft.Runtime(threads=1, io_threads=1) as rt:
        rt.set_default_task_timeout("300ms")
        (h,) = list(index_with_runtime(rt, stalled, 100, traces.stalled))
        assert isinstance(h.exception, dft.TaskTimeoutError)


def test_nested_tasks_deadlock_one_thread_pool_but_not_the_runtime(traces) -> None:
    good = [p for p in traces.paths if p.name not in traces.stalled and p.name != traces.corrupt]
    assert nested_on_one_thread_pool(2, good, 100, wait_s=0.5)
    with dft.Runtime(threads=2, io_threads=1) as rt:
        assert all(h.exception is None for h in index_with_runtime(rt, good, 100))


def test_timeline_counts_overlap_once() -> None:
    t = Timeline(reads=[(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)], parses=[(1.5, 5.5), (2.0, 2.5)])
    assert t.io_seconds() == pytest.approx(4.0)
    assert t.io_overlapping_parse_seconds() == pytest.approx(1.5 + 0.5)
