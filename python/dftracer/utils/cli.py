"""``python -m dftracer.utils``: the command line.

Subcommands:
  demo   generate synthetic traces and index them in parallel (the main job)
  bench  Python benchmarks against concurrent.futures (and Dask if installed);
         --large-jobs: Runtime.map against ThreadPoolExecutor.map and joblib;
         --trace: what tracing costs per Python and per native task
  timeline  draw a traced run (Runtime(trace=...)) as a picture (matplotlib)
  info   version, build, thread counts it would pick, optional features
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional

from dftracer.utils import _core
from dftracer.utils.demo import FileIndex, generate_traces, run_with_runtime, run_with_thread_pool
from dftracer.utils.logging_control import get_log_level
from dftracer.utils.runtime import Runtime, _io_threads_from_environment

__all__ = ["main"]


def _progress_printer(total: int) -> Callable[[Runtime, int], None]:
    """A live progress line: tqdm when installed, a plain status line otherwise."""
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        tqdm = None
    bar = tqdm(total=total, unit="file", desc="indexing", file=sys.stderr) if tqdm is not None else None

    def show(rt: Runtime, done: int) -> None:
        p = rt.get_progress(max_tasks=0)
        busy = [w["task"] for w in p["workers"] if w["task"]]
        status = f"running={p['running']} queued={p['queued']} busy: {', '.join(busy[:4]) or '-'}"
        if bar is not None:
            bar.n = done
            bar.set_postfix_str(status, refresh=True)
            if done >= total:
                bar.close()
        else:
            end = "\n" if done >= total else ""
            print(f"\r  indexed {done}/{total} files  {status:<80}", end=end, file=sys.stderr, flush=True)

    return show


def _summary(indexes: List[FileIndex]) -> str:
    events = sum(i.events for i in indexes)
    cats: dict[str, int] = {}
    for i in indexes:
        for c, n in i.by_category.items():
            cats[c] = cats.get(c, 0) + n
    moved = sum(i.bytes_moved for i in indexes)
    span = max((i.span_us for i in indexes), default=0)
    by_cat = ", ".join(f"{c}={n}" for c, n in sorted(cats.items(), key=lambda kv: -kv[1]))
    return (
        f"  files={len(indexes)} events={events} bytes_moved={moved / 2**30:.2f} GiB "
        f"longest_span={span / 1e6:.2f} s\n  by category: {by_cat}"
    )


def _demo(args: argparse.Namespace) -> int:
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="dftracer-demo-"))
    try:
        print(f"generating {args.files} trace files x {args.events} events in {folder} ...")
        t0 = time.perf_counter()
        paths = generate_traces(folder, args.files, args.events)
        size = sum(p.stat().st_size for p in paths)
        print(f"  {size / 2**20:.1f} MiB compressed, {time.perf_counter() - t0:.1f} s")

        with Runtime(threads=args.threads, io_threads=args.io_threads, trace=args.trace) as rt:
            print(f"indexing with dftracer.utils Runtime (threads={rt.threads}, io_threads={rt.io_threads}) ...")
            t0 = time.perf_counter()
            ours = run_with_runtime(rt, paths, None if args.quiet else _progress_printer(len(paths)))
            ours_s = time.perf_counter() - t0
            progress = rt.get_progress(max_tasks=0)
        if args.trace:
            print(f"  timeline written to {args.trace} (python -m dftracer.utils timeline {args.trace})")
        print(_summary(ours))
        print(f"  tasks: {progress['total']} total, {progress['completed']} completed, {progress['failed']} failed")

        threads = args.threads or rt.threads
        print(f"indexing with concurrent.futures.ThreadPoolExecutor(max_workers={threads}) ...")
        t0 = time.perf_counter()
        theirs = run_with_thread_pool(threads, paths)
        theirs_s = time.perf_counter() - t0
        same = [(i.events, i.by_category, i.bytes_moved) for i in ours] == [
            (i.events, i.by_category, i.bytes_moved) for i in theirs
        ]
        print(f"\n  {'runner':<28}{'seconds':>10}{'files/s':>10}")
        print(f"  {'dftracer.utils Runtime':<28}{ours_s:>10.2f}{len(paths) / ours_s:>10.1f}")
        print(f"  {'ThreadPoolExecutor':<28}{theirs_s:>10.2f}{len(paths) / theirs_s:>10.1f}")
        print(f"  ratio (TPE time / ours): {theirs_s / ours_s:.2f}x; results identical: {same}")
        return 0 if same else 1
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(folder, ignore_errors=True)
        elif args.keep:
            print(f"kept the trace files in {folder}")


def _bench(args: argparse.Namespace) -> int:
    if args.trace:
        from dftracer.utils.bench_trace import format_trace_overhead, run_trace_overhead

        n = 10_000 if args.quick else 100_000
        print(f"tracing off vs on, {args.threads} worker thread(s), best of {1 if args.quick else 3}")
        overheads = run_trace_overhead(n, n, repeats=1 if args.quick else 3, threads=args.threads)
        print(format_trace_overhead(overheads))
        if args.json:
            Path(args.json).write_text(json.dumps([dict(vars(r), overhead=r.overhead) for r in overheads], indent=2))
            print(f"wrote {args.json}")
        return 0
    if args.large_jobs:
        from dftracer.utils.bench_large_jobs import format_large_jobs_table, run_large_jobs

        print(f"large jobs, {args.threads} worker thread(s) each; every row in a fresh interpreter")
        rows = run_large_jobs(quick=args.quick, threads=args.threads, log=lambda s: print(s, flush=True))
        print(format_large_jobs_table(rows))
        if args.json:
            Path(args.json).write_text(json.dumps([dict(vars(r), us_per_item=r.us_per_item) for r in rows], indent=2))
            print(f"wrote {args.json}")
        return 0
    from dftracer.utils.benchmarks import format_table, run_benchmarks, to_json

    results = run_benchmarks(quick=args.quick, threads=args.threads)
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(to_json(results))
        print(f"wrote {args.json}")
    return 0


def _timeline(args: argparse.Namespace) -> int:
    from dftracer.utils._timeline import draw_timeline

    out = args.output or str(Path(args.trace).name).split(".")[0] + "-timeline.png"
    try:
        path = draw_timeline(args.trace, out, color_by=args.color_by, title=args.title)
    except ImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def _info(args: argparse.Namespace) -> int:
    print(f"dftracer.utils {_core.__version__}")
    print(f"  module:       {_core.__file__}")
    print(f"  build:        {_core.build_type}, {_core.compiler}")
    print(f"  python:       {sys.version.split()[0]}")
    print(
        f"  threads=0 ->  {_core.default_thread_count()} compute threads "
        f"(DFTRACER_UTILS_THREADS={os.environ.get('DFTRACER_UTILS_THREADS', 'unset')})"
    )
    io_threads = _io_threads_from_environment() or _core.default_thread_count()
    print(
        f"  io_threads=0 -> {io_threads} I/O threads "
        f"(DFTRACER_UTILS_IO_THREADS={os.environ.get('DFTRACER_UTILS_IO_THREADS', 'unset')})"
    )
    print(
        f"  log level:    {get_log_level()} "
        f"(DFTRACER_UTILS_LOG_LEVEL={os.environ.get('DFTRACER_UTILS_LOG_LEVEL', 'unset')}, "
        f"DFTRACER_UTILS_LOG_FILE={os.environ.get('DFTRACER_UTILS_LOG_FILE', 'unset')})"
    )
    print(f"  C ABI:        {'yes' if hasattr(_core, '_C_API') else 'not built'}")
    print(f"  dask:         {'installed' if importlib.util.find_spec('distributed') else 'not installed'}")
    print(f"  tqdm:         {'installed' if importlib.util.find_spec('tqdm') else 'not installed'}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dftracer.utils", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="index synthetic trace files in parallel (the main job)")
    demo.add_argument("--files", type=int, default=32, help="number of trace files (default 32)")
    demo.add_argument("--events", type=int, default=10000, help="events per file (default 10000)")
    demo.add_argument("--threads", type=int, default=0, help="compute threads (0: auto)")
    demo.add_argument("--io-threads", type=int, default=0, help="I/O threads (0: auto)")
    demo.add_argument("--dir", help="write the traces here instead of a temporary folder")
    demo.add_argument("--keep", action="store_true", help="keep the generated files")
    demo.add_argument("--quiet", action="store_true", help="no live progress line")
    demo.add_argument("--trace", help="write the run's timeline here (.pfw or .pfw.gz)")
    demo.set_defaults(run=_demo)

    bench = sub.add_parser("bench", help="benchmarks against concurrent.futures (and Dask)")
    bench.add_argument("--quick", action="store_true", help="small sizes, under 30 s")
    bench.add_argument("--threads", type=int, default=2, help="worker threads for both sides (default 2)")
    bench.add_argument("--json", help="also write the figures to this JSON file")
    bench.add_argument(
        "--large-jobs",
        action="store_true",
        help="Runtime.map vs ThreadPoolExecutor.map vs joblib: 1M tiny items, 2,000 small files",
    )
    bench.add_argument("--trace", action="store_true", help="tracing off vs on: us per Python task, ns per native task")
    bench.set_defaults(run=_bench)

    timeline = sub.add_parser("timeline", help="draw a traced run: one lane per worker, queue depth underneath")
    timeline.add_argument("trace", help="a trace written by Runtime(trace=...) (.pfw or .pfw.gz)")
    timeline.add_argument("-o", "--output", help="image file (.png, .svg, .pdf); default <trace>-timeline.png")
    timeline.add_argument("--color-by", choices=["kind", "name"], default="kind", help="bar colours (default kind)")
    timeline.add_argument("--title", help="the picture's title")
    timeline.set_defaults(run=_timeline)

    info = sub.add_parser("info", help="version, build and the sizes it would pick")
    info.set_defaults(run=_info)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result: int = args.run(args)
    return result
