"""``python -m dftracer.utils demo``: runs the demo job and prints what
happened, every figure with what it means.

1. The job on the runtime, with two bad files: live progress naming what
   the workers run, the failing and the timed-out file by name, the task
   counts, how much reading overlapped parsing.
2. The same job on ``concurrent.futures``: the nested code deadlocks one
   pool; the usual two-pool fix.
3. Speed: the job on both (a tie: the parse holds the GIL), then where the
   runtime is faster, and native tasks that do not hold the GIL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

from dftracer.utils import _core
from dftracer.utils._core import TaskTimeoutError
from dftracer.utils.demo import Timeline, index_with_runtime, index_with_thread_pools, nested_on_one_thread_pool
from dftracer.utils.demo_speed import (
    NATIVE_EXAMPLE,
    load_native_example,
    native_crc_scaling,
    overhead_figures,
    python_parse_scaling,
)
from dftracer.utils.demo_traces import FileIndex, TraceSet, generate_traces, read_trace, split_chunks
from dftracer.utils.progress_bar import progress
from dftracer.utils.runtime import Runtime
from dftracer.utils.task_handle import TaskHandle

__all__ = ["add_arguments", "run"]


def add_arguments(demo: argparse.ArgumentParser) -> None:
    """The demo's command-line options."""
    demo.add_argument("--files", type=int, default=16, help="good trace files (default 16)")
    demo.add_argument("--events", type=int, default=16000, help="events per file (default 16000)")
    demo.add_argument("--chunk-lines", type=int, default=4000, help="lines per parse task (default 4000)")
    demo.add_argument("--threads", type=int, default=2, help="compute workers, both runners (default 2)")
    demo.add_argument("--io-threads", type=int, default=2, help="I/O workers (default 2)")
    demo.add_argument("--timeout", type=float, default=3.0, help="per-task timeout, seconds (default 3)")
    demo.add_argument("--speed-scale", type=float, default=1.0, help="size of the overhead figures (default 1)")
    demo.add_argument("--dir", help="write the traces here instead of a temporary folder")
    demo.add_argument("--keep", action="store_true", help="keep the generated files")
    demo.add_argument("--quiet", action="store_true", help="no live progress line")
    demo.add_argument("--trace", help="write the run's timeline here (.pfw or .pfw.gz; docs/tracing.md)")


def _say(text: str = "") -> None:
    print(text, flush=True)


def _cats(by_category: Dict[str, int]) -> str:
    return ", ".join(f"{c} {n:,}" for c, n in sorted(by_category.items(), key=lambda kv: -kv[1]))


def _total(indexes: List[FileIndex]) -> FileIndex:
    out = FileIndex(name="all")
    for i in indexes:
        out.events += i.events
        out.io_bytes += i.io_bytes
        out.chunks += i.chunks
        for c, n in i.by_category.items():
            out.by_category[c] = out.by_category.get(c, 0) + n
    return out


def _exc_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _kind(name: str) -> str:
    return name.split(":", 1)[0]


def _part1(args: argparse.Namespace, traces: TraceSet) -> List[FileIndex]:
    _say("1. The job on dftracer.utils.Runtime")
    _say("   per file: a task on the I/O pool reads and decompresses it; an index task on the compute pool cuts it")
    _say(
        f"   into chunks of {args.chunk_lines:,} lines, submits one parse task per chunk and waits for them (nested tasks)"
    )
    timeline = Timeline()
    with Runtime(threads=args.threads, io_threads=args.io_threads, trace=args.trace) as rt:
        rt.set_default_task_timeout(f"{args.timeout}s")
        t0 = time.perf_counter()
        done: Iterable[TaskHandle[FileIndex]] = index_with_runtime(
            rt, traces.paths, args.chunk_lines, traces.stalled, timeline
        )
        if not args.quiet:
            interval = None if sys.stderr.isatty() else 1.0
            done = progress(done, total=len(traces.paths), desc="   index", runtime=rt, interval=interval)
        handles = list(done)
        elapsed = time.perf_counter() - t0
        rt.wait_all()
        p = rt.get_progress()
    handles.sort(key=lambda h: h.name)
    good = [h.get() for h in handles if h.exception is None]
    bad = [(h.name.split(":", 1)[1], h.exception) for h in handles if h.exception is not None]
    total = _total(good)
    _say(
        f"   indexed {len(good)} files in {elapsed:.2f} s: {total.events:,} events ({_cats(total.by_category)}), "
        f"{'as many as were written' if total.events == traces.events else f'EXPECTED {traces.events:,}'}"
    )
    for name, exc in bad:
        assert exc is not None
        if isinstance(exc, TaskTimeoutError):
            _say(
                f"   timed out: {name}: {_exc_line(exc)} (every task may run {args.timeout:g} s, "
                "rt.set_default_task_timeout; this read never ends)"
            )
        else:
            _say(f"   failed:    {name}: {_exc_line(exc)}")
    counts: Dict[str, Dict[str, int]] = {}
    longest = 0.0
    for t in p["tasks"]:
        counts.setdefault(_kind(t["name"]), {}).setdefault(t["state"], 0)
        counts[_kind(t["name"])][t["state"]] += 1
        if t["state"] == "completed":
            longest = max(longest, t["execution_duration_ms"] / 1e3)
    by_kind = "; ".join(
        f"{kind} {sum(states.values())}" + "".join(f", {n} {s}" for s, n in sorted(states.items()) if s != "completed")
        for kind, states in sorted(counts.items())
    )
    _say(f"   tasks: {p['total']} ({by_kind}); the longest that completed ran {longest:.2f} s")
    _say(
        f"   (the run ends when the stalled read times out, {args.timeout:g} s after it started; the progress line"
        " counts files done, files per second, and failed tasks: the corrupt file's parse and index tasks, the"
        " stalled file's read and index tasks)"
    )
    _say(
        f"   no deadlock: an index task waiting for its chunks runs a still-queued one itself, or the pool adds a"
        f" worker while it waits ({len(p['workers'])} compute workers at the end, {args.threads} asked for)"
    )
    io_s, both_s = timeline.io_seconds(), timeline.io_overlapping_parse_seconds()
    _say(
        f"   reading overlapped parsing: reads ran during {io_s:.2f} s of the {elapsed:.2f} s"
        f" (reads that finished), {both_s:.2f} s of it while chunks were being parsed"
    )
    if args.trace:
        _say(
            f"   the run's timeline (one event per task, queue depth, watchdog actions): {args.trace};"
            f" draw it with: python -m dftracer.utils timeline {args.trace} -o timeline.png"
        )
    return good


def _part2(args: argparse.Namespace, traces: TraceSet) -> None:
    threads = args.threads
    _say(f"2. The same job written the natural way on concurrent.futures.ThreadPoolExecutor ({threads} workers)")
    good = [p for p in traces.paths if p.name not in traces.stalled and p.name != traces.corrupt]
    wait_s = 2.0
    t0 = time.perf_counter()
    deadlocked = nested_on_one_thread_pool(threads, good, args.chunk_lines, wait_s)
    if deadlocked:
        _say(
            f"   one pool, the same nested code: deadlock: all {threads} workers wait in file tasks for chunk tasks queued"
            f" behind the other files (found by the file task's result(timeout={wait_s:g}), {time.perf_counter() - t0:.1f} s)"
        )
    else:
        _say("   one pool, the same nested code: finished this time (a deadlock needs every worker in a file task)")
    futures = index_with_thread_pools(
        threads, [p for p in traces.paths if p.name not in traces.stalled], args.chunk_lines
    )
    failed = [f.exception() for f in futures if f.exception() is not None]
    _say(
        f"   the usual fix, two pools ({threads} threads for files, {threads} for chunks): "
        f"{len(futures) - len(failed)} files indexed, {len(failed)} failed ({', '.join(type(e).__name__ for e in failed if e)})"
    )
    _say(
        f"   {', '.join(sorted(traces.stalled))} left out: a ThreadPoolExecutor cannot stop a running task,"
        " its worker would be held until the read gives up (60 s)"
    )


def _timed_index(args: argparse.Namespace, good: List[Path], ours: bool) -> Tuple[float, List[FileIndex]]:
    t0 = time.perf_counter()
    if ours:
        with Runtime(threads=args.threads, io_threads=args.io_threads) as rt:
            done = sorted(index_with_runtime(rt, good, args.chunk_lines), key=lambda h: h.name)
            results = [h.get() for h in done]
    else:
        results = [f.result() for f in index_with_thread_pools(args.threads, good, args.chunk_lines)]
    return time.perf_counter() - t0, results


def _part3(args: argparse.Namespace, traces: TraceSet) -> bool:
    load = f"load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "load unknown"
    _say("3. Speed, measured now; ratio = ThreadPoolExecutor's figure / ours (above 1: we are faster)")
    _say(f"   ({load} on {os.cpu_count()} CPUs: with other work on the cores, figures vary between runs)")
    good = [p for p in traces.paths if p.name not in traces.stalled and p.name != traces.corrupt]
    ours_s, ours = _timed_index(args, good, ours=True)
    theirs_s, theirs = _timed_index(args, good, ours=False)
    same = ours == theirs
    _say(
        f"   the job, {len(good)} good files:".ljust(62)
        + f"ours {ours_s:6.2f} s   peer (two pools) {theirs_s:6.2f} s   {theirs_s / ours_s:4.2f}x"
        + ("" if same else "   RESULTS DIFFER")
    )
    lines = split_chunks(read_trace(good[0]), args.chunk_lines)[0]
    scaling = python_parse_scaling(lines, 8)
    ratio = theirs_s / ours_s
    verdict = "a tie" if 0.85 <= ratio <= 1.15 else ("ours ahead" if ratio > 1 else "the peer ahead")
    _say(
        f"   -> {verdict}, within what this can show: the parse is json.loads, which holds the GIL, so on CPython"
        f" no thread pool parses faster than one core (8 parse tasks, 2 workers vs 1: {scaling:.2f}x, best of 3)"
    )
    _say("   the runners' own costs (tiny tasks, so nothing else is measured):")
    for f in overhead_figures(args.threads, args.speed_scale):
        _say(
            f"   {f.case}:".ljust(62) + f"ours {f.ours:6.1f} {f.unit:<7} peer {f.peer:6.1f} {f.unit:<7} {f.ratio:4.1f}x"
        )
        if f.case.startswith("one tiny task") and f.ratio < 1.5:
            _say("     (one at a time, both wait for a thread to wake up; with the cores busy that dominates)")
    ext = load_native_example()
    if ext is None:
        _say(
            f"   native tasks: skipped, the example extension ({NATIVE_EXAMPLE}) is not installed"
            " (pip install --no-build-isolation tests/native_ext)"
        )
    else:
        n = native_crc_scaling(ext, good, repeat=max(1, int(32 * 2**20 / max(traces.compressed_bytes, 1))))
        _say(
            f"   native tasks (tests/native_ext: C++ CRC-32 of {n.mib:.0f} MiB of trace files on the I/O pool, no GIL):"
            f" {n.mib_per_s_1:.0f} MiB/s on 1 worker, {n.mib_per_s_2:.0f} on 2: {n.speedup:.2f}x"
            f" (Python parsing: {scaling:.2f}x; best of 3 each)"
        )
    return same


def run(args: argparse.Namespace) -> int:
    """The demo; returns the exit status (0: every result as expected)."""
    start = time.perf_counter()
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="dftracer-demo-"))
    try:
        _say(
            f"dftracer.utils {_core.__version__} demo: index DFTracer trace files (.pfw.gz); "
            f"{args.threads} compute + {args.io_threads} I/O workers, {os.cpu_count()} CPUs here"
        )
        t0 = time.perf_counter()
        traces = generate_traces(folder, args.files, args.events)
        _say(
            f"generated {args.files} trace files x {args.events:,} events in {time.perf_counter() - t0:.1f} s "
            f"({traces.compressed_bytes / 2**20:.1f} MiB gzip, {traces.json_bytes / 2**20:.1f} MiB of JSON lines),"
        )
        _say(
            f"  plus {traces.corrupt} (one line is not JSON) and {', '.join(sorted(traces.stalled))} (its storage never answers)"
        )
        _say()
        _part1(args, traces)
        _say()
        _part2(args, traces)
        _say()
        same = _part3(args, traces)
        _say()
        _say(f"demo done in {time.perf_counter() - start:.1f} s")
        return 0 if same else 1
    finally:
        if args.keep or args.dir:
            _say(f"trace files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
