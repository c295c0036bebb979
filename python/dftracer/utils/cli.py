"""``python -m dftracer.utils``: the command line.

Subcommands:
  demo   generate synthetic traces and index them in parallel (the main job)
  bench  Python benchmarks against concurrent.futures (and Dask if installed);
         --large-jobs: Runtime.map against ThreadPoolExecutor.map and joblib;
         --trace: what tracing costs per Python and per native task
  timeline  draw a traced run (Runtime(trace=...)) as a picture (matplotlib)
  info   which implementation and version is installed, where, its build type and
         C ABI version, the thread counts it would pick, optional features
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path
from typing import List, Optional

from dftracer.utils import _core, demo_report
from dftracer.utils.logging_control import get_log_level
from dftracer.utils.runtime import _io_threads_from_environment

__all__ = ["main"]


def _bench(args: argparse.Namespace) -> int:
    if args.large_jobs:
        from dftracer.utils.bench_large_jobs import format_large_jobs_table, run_large_jobs

        print(f"large jobs, {args.threads} worker thread(s) each; every row in a fresh interpreter")
        rows = run_large_jobs(quick=args.quick, threads=args.threads, log=lambda s: print(s, flush=True))
        print(format_large_jobs_table(rows))
        if args.json:
            Path(args.json).write_text(json.dumps([dict(vars(r), us_per_item=r.us_per_item) for r in rows], indent=2))
            print(f"wrote {args.json}")
        return 0
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


#: What ``info`` says this package is: not upstream's dftracer-utils (the
#: same import name, a different project; README, "The distribution name").
IMPLEMENTATION = "dftracer.utils task runtime: C++20 work-stealing engine, pybind11 bindings"


def _distribution() -> str:
    try:
        dist = importlib.metadata.distribution("dftracer-utils")
    except importlib.metadata.PackageNotFoundError:
        return "none installed (running from a source tree?)"
    where = dist.locate_file("")
    text = f"dftracer-utils {dist.version} in {where}"
    if dist.version != _core.__version__:
        text += f" (MISMATCH: the loaded engine is {_core.__version__}; reinstall)"
    return text


def _info(args: argparse.Namespace) -> int:
    package_dir = Path(__file__).resolve().parent
    major, minor = _core.C_API_VERSION
    print(f"dftracer.utils {_core.__version__}")
    print(f"  implementation: {IMPLEMENTATION}")
    print(f"  distribution:   {_distribution()}")
    print(f"  location:       {package_dir}")
    print(f"  engine module:  {_core.__file__}")
    print(f"  build type:     {_core.build_type} (compiler version {_core.compiler})")
    print(
        f"  C ABI version:  {major}.{minor} (dftracer/utils/c_api.h; headers in {Path(_core.__file__).parent / 'include'})"
    )
    print(f"  python:         {sys.implementation.name} {sys.version.split()[0]}")
    print(
        f"  threads=0 ->    {_core.default_thread_count()} compute threads "
        f"(DFTRACER_UTILS_THREADS={os.environ.get('DFTRACER_UTILS_THREADS', 'unset')})"
    )
    io_threads = _io_threads_from_environment() or _core.default_thread_count()
    print(
        f"  io_threads=0 -> {io_threads} I/O threads "
        f"(DFTRACER_UTILS_IO_THREADS={os.environ.get('DFTRACER_UTILS_IO_THREADS', 'unset')})"
    )
    print(
        f"  log level:      {get_log_level()} "
        f"(DFTRACER_UTILS_LOG_LEVEL={os.environ.get('DFTRACER_UTILS_LOG_LEVEL', 'unset')}, "
        f"DFTRACER_UTILS_LOG_FILE={os.environ.get('DFTRACER_UTILS_LOG_FILE', 'unset')})"
    )
    print(f"  dask:           {'installed' if importlib.util.find_spec('distributed') else 'not installed'}")
    print(f"  tqdm:           {'installed' if importlib.util.find_spec('tqdm') else 'not installed'}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dftracer.utils", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="index synthetic trace files in parallel (the main job)")
    demo_report.add_arguments(demo)
    demo.set_defaults(run=demo_report.run)

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
