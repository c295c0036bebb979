"""The demo's speed figures beyond the job itself: where the runtime is
faster than ``concurrent.futures.ThreadPoolExecutor`` on CPython (its
per-task overhead, many small tasks, nested tasks) and what native tasks
from an extension (``tests/native_ext``) gain by not holding the GIL.

Each figure is measured here, now, next to its peer, on the same number of
workers; nothing is a constant. ``python -m dftracer.utils bench`` has the
longer forms.
"""

from __future__ import annotations

import importlib
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, List, Optional

from dftracer.utils.demo_traces import parse_chunk
from dftracer.utils.runtime import Runtime

__all__ = ["Figure", "NativeScaling", "native_crc_scaling", "overhead_figures", "python_parse_scaling"]

#: The example extension's import name (``pip install --no-build-isolation tests/native_ext``).
NATIVE_EXAMPLE = "dftracer_native_example"


@dataclass
class Figure:
    """One line of the table: ``ours`` and ``peer`` in ``unit``, lower is better."""

    case: str
    unit: str
    ours: float
    peer: float

    @property
    def ratio(self) -> float:
        """The peer's figure over ours: above 1 means we are faster."""
        return self.peer / self.ours if self.ours > 0 else float("inf")


def _noop() -> None:
    return None


def _round_trip_us(submit_and_wait: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        submit_and_wait()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6


def _bulk_us(submit: Callable[[], Any], wait: Callable[[Any], object], n: int) -> float:
    t0 = time.perf_counter()
    handles = [submit() for _ in range(n)]
    for h in handles:
        wait(h)
    return (time.perf_counter() - t0) / n * 1e6


def _nested_ms(rt_or_pools: Any, parents: int, children: int) -> float:
    t0 = time.perf_counter()
    if isinstance(rt_or_pools, Runtime):
        rt = rt_or_pools

        def parent() -> int:
            return sum(1 for h in [rt.submit(_noop) for _ in range(children)] if h.get() is None)

        assert sum(h.get() for h in [rt.submit(parent) for _ in range(parents)]) == parents * children
    else:
        outer, inner = rt_or_pools

        def parent_tpe() -> int:
            return sum(1 for f in [inner.submit(_noop) for _ in range(children)] if f.result() is None)

        assert sum(f.result() for f in [outer.submit(parent_tpe) for _ in range(parents)]) == parents * children
    return (time.perf_counter() - t0) * 1e3


def overhead_figures(threads: int, scale: float = 1.0) -> List[Figure]:
    """Round trip, bulk tiny tasks and nested tasks, ours against
    ThreadPoolExecutor with ``threads`` workers (two pools for nesting)."""
    n_rt = max(int(2000 * scale), 50)
    n_bulk = max(int(20000 * scale), 500)
    parents, children = max(int(64 * scale), 4), 50
    figures = []
    with Runtime(threads=threads, io_threads=1) as rt, ThreadPoolExecutor(max_workers=threads) as tpe:
        for _ in range(50):  # warm both: threads started, thread states made
            rt.submit(_noop).get()
            tpe.submit(_noop).result()
        figures.append(
            Figure(
                f"one tiny task, submit then wait: median of {n_rt:,}",
                "us",
                _round_trip_us(lambda: rt.submit(_noop).get(), n_rt),
                _round_trip_us(lambda: tpe.submit(_noop).result(), n_rt),
            )
        )
        figures.append(
            Figure(
                f"{n_bulk:,} tiny tasks: submit all, then wait for each",
                "us/task",
                _bulk_us(lambda: rt.submit(_noop), lambda h: h.get(), n_bulk),
                _bulk_us(lambda: tpe.submit(_noop), lambda f: f.result(), n_bulk),
            )
        )
        with ThreadPoolExecutor(max_workers=threads) as inner:
            figures.append(
                Figure(
                    f"{parents} tasks x {children} nested tiny tasks each (peer: two pools)",
                    "ms",
                    _nested_ms(rt, parents, children),
                    _nested_ms((tpe, inner), parents, children),
                )
            )
    return figures


def python_parse_scaling(lines: List[bytes], parts: int) -> float:
    """Speed-up of parsing ``parts`` copies of ``lines`` on 2 workers over 1
    (the runtime's): about 1.0 on CPython, the GIL serializes ``json.loads``."""
    seconds = []
    for threads in (1, 2):
        with Runtime(threads=threads, io_threads=1) as rt:
            rt.wait_all()
            best = float("inf")
            for _ in range(3):  # best of 3: the least disturbed by other processes
                t0 = time.perf_counter()
                for h in [rt.submit(parse_chunk, lines) for _ in range(parts)]:
                    h.get()
                best = min(best, time.perf_counter() - t0)
            seconds.append(best)
    return seconds[0] / seconds[1]


@dataclass
class NativeScaling:
    """Native CRC-32 throughput of the example extension, 1 and 2 I/O workers."""

    mib: float
    mib_per_s_1: float
    mib_per_s_2: float

    @property
    def speedup(self) -> float:
        return self.mib_per_s_2 / self.mib_per_s_1


def load_native_example() -> Optional[ModuleType]:
    """The example extension, or None when it is not installed."""
    try:
        return importlib.import_module(NATIVE_EXAMPLE)
    except ImportError:
        return None


def native_crc_scaling(ext: ModuleType, paths: List[Path], repeat: int) -> NativeScaling:
    """CRC-32 of every file ``repeat`` times by the extension's native tasks
    (C++, on the I/O pool, GIL never taken), on 1 then 2 I/O workers."""
    names = [str(p) for p in paths] * repeat
    mib = sum(p.stat().st_size for p in paths) * repeat / 2**20
    rates = []
    for io_threads in (1, 2):
        with Runtime(threads=1, io_threads=io_threads) as rt:
            rt.submit(ext.checksum_files(rt, names[:1])[0]).get()  # warm
            best = float("inf")
            for _ in range(3):  # best of 3: the least disturbed by other processes
                t0 = time.perf_counter()
                for h in [rt.submit(h) for h in ext.checksum_files(rt, names)]:
                    h.get()
                best = min(best, time.perf_counter() - t0)
            rates.append(mib / best)
    return NativeScaling(mib, rates[0], rates[1])
