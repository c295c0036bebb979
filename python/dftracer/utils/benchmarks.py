"""Python-level benchmarks against concurrent.futures (and Dask when installed).

Run with ``python -m dftracer.utils bench`` (``--quick`` for a run under
30 s, ``--json FILE`` to keep the figures). Every case runs our Runtime and
the peer in the same process, one after the other, and prints both figures
and their ratio. Nothing here asserts on time: these machines are noisy.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional

from dftracer.utils.runtime import Runtime

__all__ = ["BenchResult", "run_benchmarks", "format_table"]


@dataclass
class BenchResult:
    case: str
    unit: str
    ours: float
    peer: float
    peer_name: str
    lower_is_better: bool = True

    @property
    def ratio(self) -> float:
        """Peer / ours for lower-is-better figures: > 1 means we are faster."""
        if self.lower_is_better:
            return self.peer / self.ours if self.ours else float("inf")
        return self.ours / self.peer if self.peer else float("inf")


def _noop() -> None:
    return None


def _identity(x: int) -> int:
    return x


class _Pool:
    """One side of a comparison: how to make a pool, submit to it and wait
    for a result, so every case is written once for both sides."""

    def __init__(self, name: str, make: Callable[[int], Any], result: Callable[[Any], Any]) -> None:
        self.name = name
        self.make = make  # threads -> context manager with .submit(fn, *args)
        self.result = result  # handle -> its value


OURS = _Pool("dftracer.utils Runtime", lambda threads: Runtime(threads=threads), lambda h: h.get())
TPE = _Pool("ThreadPoolExecutor", lambda threads: ThreadPoolExecutor(max_workers=threads), lambda f: f.result())


def _best_of(repeats: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeats))


def _compare(case: str, unit: str, measure: Callable[[_Pool], float], lower_is_better: bool = True) -> BenchResult:
    return BenchResult(case, unit, measure(OURS), measure(TPE), TPE.name, lower_is_better)


def _round_trip(submit_get: Callable[[], Any], n: int) -> float:
    for _ in range(min(n, 200)):  # warm up: threads awake, thread states made
        submit_get()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        submit_get()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1000.0


def bench_round_trip(threads: int, n: int) -> BenchResult:
    """submit() then wait for the result of a no-op, median microseconds."""

    def measure(pool: _Pool) -> float:
        with pool.make(threads) as p:
            return _round_trip(lambda: pool.result(p.submit(_noop)), n)

    return _compare("submit+get round trip (median)", "us", measure)


def _start_cpu_hogs(count: int) -> List["subprocess.Popen[bytes]"]:
    """`count` processes that keep one core busy each (the other tenants of
    a shared node)."""
    code = "while True: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def bench_round_trip_busy(threads: int, n: int, rounds: int = 5) -> BenchResult:
    """The round trip while as many CPU-bound processes as cores keep every
    core busy: ours and ThreadPoolExecutor interleaved, `rounds` times each,
    median of the medians (the machine's load drifts; interleaving shares the
    drift between the two)."""
    hogs = _start_cpu_hogs(os.cpu_count() or 2)
    try:
        time.sleep(0.3)  # let them take the cores
        ours: List[float] = []
        peer: List[float] = []
        with OURS.make(threads) as rt, TPE.make(threads) as tpe:
            for _ in range(rounds):
                ours.append(_round_trip(lambda: OURS.result(rt.submit(_noop)), n))
                peer.append(_round_trip(lambda: TPE.result(tpe.submit(_noop)), n))
    finally:
        for h in hogs:
            h.kill()
        for h in hogs:
            h.wait()
    return BenchResult(
        "round trip, every core busy (median)", "us", statistics.median(ours), statistics.median(peer), TPE.name
    )


def bench_submit_gather(threads: int, n: int, repeats: int) -> BenchResult:
    """n submits, then the result of each; microseconds per task."""

    def once(pool: _Pool) -> float:
        with pool.make(threads) as p:
            t0 = time.perf_counter()
            handles = [p.submit(_identity, i) for i in range(n)]
            total = sum(pool.result(h) for h in handles)
            elapsed = time.perf_counter() - t0
        assert total == n * (n - 1) // 2
        return elapsed / n * 1e6

    return _compare(f"{n} submits then gather", "us/task", lambda pool: _best_of(repeats, lambda: once(pool)))


def _gil_free_work(buf: bytes) -> int:
    # zlib and hashlib release the GIL for large buffers.
    return len(zlib.compress(buf, 1)) + len(hashlib.sha256(buf).digest())


def bench_gil_releasing_scaling(n_tasks: int, repeats: int) -> List[BenchResult]:
    """zlib+sha256 on 1 MiB buffers: tasks/s at 1 and 2 threads."""
    buf = bytes(range(256)) * 4096
    results = []
    for threads in (1, 2):

        def once(pool: _Pool, threads: int = threads) -> float:
            with pool.make(threads) as p:
                t0 = time.perf_counter()
                for h in [p.submit(_gil_free_work, buf) for _ in range(n_tasks)]:
                    pool.result(h)
                return time.perf_counter() - t0

        results.append(
            _compare(
                f"zlib+sha256 1 MiB, {threads} thread(s)",
                "tasks/s",
                lambda pool: n_tasks / _best_of(repeats, lambda: once(pool)),
                lower_is_better=False,
            )
        )
    return results


def bench_nested(threads: int, parents: int, children: int) -> BenchResult:
    """Each parent submits `children` tasks and gets them; ms for the whole tree.

    ThreadPoolExecutor needs a second pool for the children (waiting on the
    same pool from inside it can deadlock); the Runtime uses one."""

    def ours_once() -> float:
        with Runtime(threads=threads) as rt:

            def parent() -> int:
                return sum(h.get() for h in [rt.submit(_identity, i) for i in range(children)])

            t0 = time.perf_counter()
            for h in [rt.submit(parent) for _ in range(parents)]:
                h.get()
            return (time.perf_counter() - t0) * 1e3

    def peer_once() -> float:
        with ThreadPoolExecutor(max_workers=threads) as outer, ThreadPoolExecutor(max_workers=threads) as inner:

            def parent() -> int:
                return sum(f.result() for f in [inner.submit(_identity, i) for i in range(children)])

            t0 = time.perf_counter()
            for f in [outer.submit(parent) for _ in range(parents)]:
                f.result()
            return (time.perf_counter() - t0) * 1e3

    return BenchResult(
        f"nested: {parents} parents x {children} children",
        "ms",
        _best_of(3, ours_once),
        _best_of(3, peer_once),
        "ThreadPoolExecutor (2 pools)",
    )


def bench_worker_side_cost(n: int) -> BenchResult:
    """Time a single worker spends per no-op callable, with the queue pre-filled.

    One worker is held on an Event while n tasks queue up behind it, then
    released; the drain time / n is the worker-side cost of running one
    Python callable (GIL restore, call, finish, bookkeeping)."""

    def once(pool: _Pool) -> float:
        gate = threading.Event()
        with pool.make(1) as p:
            first = p.submit(gate.wait)
            handles = [p.submit(_noop) for _ in range(n)]
            time.sleep(0.05)
            t0 = time.perf_counter_ns()
            gate.set()
            pool.result(handles[-1])
            elapsed = time.perf_counter_ns() - t0
            pool.result(first)
            return elapsed / n

    return _compare("worker-side cost per callable", "ns", lambda pool: _best_of(3, lambda: once(pool)))


def bench_dask_round_trip(n: int) -> Optional[BenchResult]:
    """submit().result() on an in-process dask.distributed cluster, if installed."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return None
    import logging

    logging.getLogger("distributed").setLevel(logging.WARNING)  # its INFO lines would bury the table
    cluster_cm = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    )
    with cluster_cm as cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        peer = _round_trip(lambda: client.submit(_identity, time.perf_counter_ns(), pure=False).result(), n)
    with Runtime(threads=2) as rt:
        ours = _round_trip(lambda: rt.submit(_identity, 1).get(), n)
    return BenchResult("submit+get round trip (median)", "us", ours, peer, "dask.distributed (in-process)")


def run_benchmarks(quick: bool = False, threads: int = 2) -> List[BenchResult]:
    scale = 0.1 if quick else 1.0
    results = [
        bench_round_trip(threads, int(20000 * scale) or 1),
        bench_round_trip_busy(threads, int(2000 * scale) or 1, 3 if quick else 5),
        bench_submit_gather(threads, int(100_000 * scale), 1 if quick else 3),
        *bench_gil_releasing_scaling(int(64 * scale) or 4, 1 if quick else 3),
        bench_nested(threads, int(64 * scale) or 4, 100),
        bench_worker_side_cost(int(100_000 * scale)),
    ]
    dask = bench_dask_round_trip(200 if quick else 2000)
    if dask is not None:
        results.append(dask)
    return results


def format_table(results: List[BenchResult]) -> str:
    head = f"{'case':<44}{'unit':>9}{'ours':>12}{'peer':>12}  {'ratio':>7}  peer"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.case:<44}{r.unit:>9}{r.ours:>12.2f}{r.peer:>12.2f}  {r.ratio:>6.2f}x  {r.peer_name}")
    lines.append("ratio > 1: we are faster (peer time / our time, or our rate / peer rate)")
    return "\n".join(lines)


def to_json(results: List[BenchResult]) -> str:
    rows: List[Dict[str, Any]] = [dict(asdict(r), ratio=r.ratio) for r in results]
    return json.dumps(rows, indent=2)
