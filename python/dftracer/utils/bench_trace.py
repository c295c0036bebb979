"""What tracing costs: ``python -m dftracer.utils bench --trace``.

In one run, with the same runtime settings: 100k Python tasks (submit all,
then gather) and 100k native no-op tasks, each with tracing off and on
(gzip), alternating, best of ``repeats``. Prints microseconds per Python
task, nanoseconds per native task and the overhead; asserts nothing about
time (the machine may be busy), only that every task ran and was traced.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

from dftracer.utils import _core
from dftracer.utils.runtime import Runtime
from dftracer.utils.trace import read_trace

__all__ = ["TraceOverhead", "format_trace_overhead", "run_trace_overhead"]


@dataclass
class TraceOverhead:
    """One case: seconds per task with tracing off and on."""

    case: str
    tasks: int
    off_s_per_task: float
    on_s_per_task: float
    traced_events: int  # task events found in the last traced file

    @property
    def overhead(self) -> float:
        """(on - off) / off; negative when the difference is noise."""
        return self.on_s_per_task / self.off_s_per_task - 1.0


def _noop() -> None:
    return None


def _python_tasks(rt: Runtime, n: int) -> float:
    t0 = time.perf_counter()
    handles = [rt.submit(_noop) for _ in range(n)]
    for h in handles:
        h.get()
    return time.perf_counter() - t0


def _native_tasks(rt: Runtime, n: int) -> float:
    return float(_core._bench_native_tasks(rt._native_runtime(), n))


def _measure(case: str, n: int, repeats: int, threads: int, run: Callable[[Runtime, int], float]) -> TraceOverhead:
    best = {False: float("inf"), True: float("inf")}
    events = 0
    with tempfile.TemporaryDirectory(prefix="dftracer-trace-bench-") as tmp:
        for r in range(repeats):
            for traced in (False, True) if r % 2 == 0 else (True, False):
                path = os.path.join(tmp, f"{case}-{r}.pfw.gz")
                # caller_runs off: every task runs on a worker, as in a real job.
                with Runtime(threads=threads, caller_runs=False, trace=path if traced else None) as rt:
                    run(rt, min(n, 1000))  # warm the workers and the frame pools
                    if traced:
                        rt.stop_trace()
                        rt.start_trace(path)
                    best[traced] = min(best[traced], run(rt, n))
                if traced:
                    events = sum(1 for e in read_trace(path) if e.get("ph") == "X")
    return TraceOverhead(case, n, best[False] / n, best[True] / n, events)


def run_trace_overhead(
    n_python: int = 100_000,
    n_native: int = 100_000,
    repeats: int = 3,
    threads: int = 2,
    log: Optional[Callable[[str], None]] = None,
) -> List[TraceOverhead]:
    """Measures both cases; ``log`` gets a line per case as it finishes."""
    out = []
    for case, n, run in (("python", n_python, _python_tasks), ("native", n_native, _native_tasks)):
        result = _measure(case, n, repeats, threads, run)
        out.append(result)
        if log is not None:
            log(format_trace_overhead([result]).splitlines()[-1])
    return out


def format_trace_overhead(results: List[TraceOverhead]) -> str:
    """A table: per-task time off and on, the difference, the overhead."""
    lines = [f"  {'case':<28}{'tasks':>8}{'off':>12}{'on':>12}{'cost':>12}{'overhead':>10}"]
    for r in results:
        if r.case == "python":
            off, on, cost = r.off_s_per_task * 1e6, r.on_s_per_task * 1e6, (r.on_s_per_task - r.off_s_per_task) * 1e6
            unit = "us"
        else:
            off, on, cost = r.off_s_per_task * 1e9, r.on_s_per_task * 1e9, (r.on_s_per_task - r.off_s_per_task) * 1e9
            unit = "ns"
        lines.append(
            f"  {r.case + ' task (submit+gather)':<28}{r.tasks:>8}{off:>9.2f} {unit}{on:>9.2f} {unit}"
            f"{cost:>9.2f} {unit}{r.overhead * 100:>9.1f}%"
        )
    return "\n".join(lines)
