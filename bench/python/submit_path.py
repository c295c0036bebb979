"""Per-call costs of the Python submit path, for A/B runs of two builds.

Run it with each build's interpreter, alternately, several times (the
machine's noise is larger than one run's spread):

    for i in 1 2 3; do old-venv/bin/python bench/python/submit_path.py
                       .venv/bin/python bench/python/submit_path.py; done

Prints, for 3 rounds each: microseconds per ``rt.submit(f, i)`` while the
only worker is held on an Event (so nothing runs meanwhile), per ``get()``
and per ``done()`` on the finished handles, and per task for 100k submits
then gather with 2 workers. bench/cpp/RESULTS.md ("The Python submit path")
has a run.
"""

from __future__ import annotations

import threading
import time
from typing import List

from dftracer.utils import Runtime

N = 100_000


def identity(x: int) -> int:
    return x


def held_worker_round(rt: Runtime) -> List[float]:
    gate = threading.Event()
    rt.submit(gate.wait)
    time.sleep(0.05)  # the worker is inside gate.wait now
    t0 = time.perf_counter()
    handles = [rt.submit(identity, i) for i in range(N)]
    t1 = time.perf_counter()
    gate.set()
    rt.wait_all()
    t2 = time.perf_counter()
    for h in handles:
        h.get()
    t3 = time.perf_counter()
    for h in handles:
        h.done()
    t4 = time.perf_counter()
    return [1e6 * (t1 - t0) / N, 1e6 * (t3 - t2) / N, 1e6 * (t4 - t3) / N]


def gather_round(rt: Runtime) -> float:
    t0 = time.perf_counter()
    handles = [rt.submit(identity, i) for i in range(N)]
    for h in handles:
        h.get()
    return 1e6 * (time.perf_counter() - t0) / N


def main() -> None:
    with Runtime(threads=1) as rt:
        held = [held_worker_round(rt) for _ in range(3)]
    with Runtime(threads=2) as rt:
        gathered = [gather_round(rt) for _ in range(3)]

    def cells(values: List[float]) -> str:
        return " ".join(f"{v:.2f}" for v in values)

    print(
        f"submit {cells([r[0] for r in held])} | get(done) {cells([r[1] for r in held])} | "
        f"done() {cells([r[2] for r in held])} | 100k submit+gather (2 workers) {cells(gathered)}"
    )


if __name__ == "__main__":
    main()
