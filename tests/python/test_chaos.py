"""Chaos, from Python: the hazards of issue 10 mixed at random for a while.

Each round makes a runtime of random size and, from several threads at once,
submits plain, failing and nested tasks, queue.Queue and Event hand-offs
(blocking the pool cannot see), cancels, tasks that sleep across a per-task
timeout, done callbacks that submit; its error callback submits, tries
wait_all() and shutdown() (refused from inside) and sometimes drops the last
reference to the runtime. The round ends with a random teardown (shutdown
with or without waiting, or dropping the runtime) while handles are kept.
Invariants: nothing hangs, every kept handle ends final, no callback error
escapes. Process-level hazards (fork and exit under load) run in fresh
interpreters.

Duration: DFTRACER_CHAOS_SECONDS (default 5); scripts/chaos.sh runs the long
form, also under AddressSanitizer (scripts/sanitize.sh python).
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from typing import Any, List

import pytest

import dftracer.utils as dft

SECONDS = float(os.environ.get("DFTRACER_CHAOS_SECONDS", "5"))
SEED = int(os.environ.get("DFTRACER_CHAOS_SEED", "20261201"))


class ChaosError(Exception):
    pass


def _raise() -> None:
    raise ChaosError("chaos")


def _chaos_round(seed: int, problems: List[str]) -> int:
    rng = random.Random(seed)
    holder: List[Any] = [
        dft.Runtime(
            threads=rng.randint(1, 3),
            io_threads=rng.randint(1, 2),
            watchdog_interval=rng.choice([2, 5, 10]),
            starvation_threshold="20ms",
            max_temporary_workers=64,
        )
    ]
    rt = holder[0]
    if rng.random() < 0.5:
        rt.set_default_task_timeout(f"{rng.randint(1, 20)}ms")
    drop_in_callback = rng.random() < 0.2

    def on_error(h: Any, e: BaseException) -> None:
        target = holder[0] if holder else None
        if target is None:
            return
        k = h.task_id % 4
        try:
            if k == 0:
                target.submit(lambda: None, name="from-callback")
            elif k == 1:
                target.wait_all()
                problems.append("wait_all() inside a callback was not refused")
            elif k == 2:
                target.shutdown()
                problems.append("shutdown() inside a callback was not refused")
        except RuntimeError:
            pass
        if drop_in_callback and holder:
            holder.clear()

    rt.set_error_callback(on_error)
    kept: List[Any] = []
    kept_lock = threading.Lock()

    def submitter(sub_seed: int) -> None:
        r = random.Random(sub_seed)
        for _ in range(r.randint(20, 60)):
            target = holder[0] if holder else None
            if target is None:
                return
            try:
                kind = r.randrange(8)
                if kind == 0:
                    h = target.submit(sum, [1, 2, 3])
                elif kind == 1:
                    h = target.submit(_raise)
                elif kind == 2:
                    h = target.submit(lambda t=target: t.submit(len, "abc").get(timeout=30))
                elif kind == 3:
                    q: "queue.Queue[int]" = queue.Queue()
                    h = target.submit(q.get, timeout=10)
                    target.submit(q.put, 1)
                elif kind == 4:
                    ev = threading.Event()

                    def waiter(ev: threading.Event = ev, t: Any = target) -> bool:
                        t.submit(ev.set)
                        return ev.wait(10)

                    h = target.submit(waiter)
                elif kind == 5:
                    h = target.submit(time.sleep, r.random() * 0.01)
                    h.cancel()
                elif kind == 6:
                    h = target.submit(time.sleep, r.random() * 0.02)  # lands on the timeout
                else:
                    h = target.submit(lambda: 7)
                    h.add_done_callback(lambda _h, t=target: t.submit(lambda: None) if not t._is_unusable() else None)
            except RuntimeError:
                continue  # shut down or dropped meanwhile
            with kept_lock:
                kept.append(h)
            if r.random() < 0.1:
                time.sleep(r.random() * 0.001)

    threads = [threading.Thread(target=submitter, args=(rng.getrandbits(32),)) for _ in range(rng.randint(2, 3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        if t.is_alive():
            problems.append(f"seed {seed}: a submitter hung")
    if holder:
        choice = rng.randrange(3)
        if choice == 0:
            holder[0].shutdown(wait=True)
        elif choice == 1:
            holder[0].shutdown(wait=False)
        holder.clear()  # choice 2: dropped with work in flight
    del rt
    assert dft._core.wait_for_reapers(60), f"seed {seed}: a runtime's teardown hung"
    _, not_done = dft.wait(kept, timeout=30)
    problems.extend(f"seed {seed}: {h!r} never finished" for h in not_done)
    return len(kept)


def test_mixed_hazards_keep_every_invariant() -> None:
    problems: List[str] = []
    deadline = time.monotonic() + SECONDS
    rounds = tasks = 0
    while time.monotonic() < deadline or rounds < 3:
        try:
            tasks += _chaos_round(SEED + rounds, problems)
        except BaseException as e:  # a hang shows as a timeout in there
            pytest.fail(f"seed {SEED + rounds}: {type(e).__name__}: {e}")
        rounds += 1
        assert not problems, problems
    print(f"chaos: {rounds} rounds, {tasks} tasks kept, {SECONDS:.0f} s")


@pytest.mark.forks
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_and_exit_under_load(python_script: Any) -> None:
    source = """
        import os, random, threading, time
        import dftracer.utils as dft
        rt = dft.Runtime(threads=2, io_threads=1)
        stop = threading.Event()
        def load():
            while not stop.is_set():
                try:
                    hs = [rt.submit(time.sleep, 0.0005) for _ in range(20)]
                    rt.submit(lambda: rt.submit(sum, [1, 2]).get(timeout=30))
                    for h in hs[:5]:
                        h.cancel()
                except RuntimeError:
                    return
        threads = [threading.Thread(target=load, daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        statuses = []
        for _ in range(5):
            time.sleep(0.05)
            pid = os.fork()
            if pid == 0:
                with dft.Runtime(threads=1, io_threads=1) as mine:
                    ok = mine.submit(lambda: 41 + 1).get(timeout=30) == 42
                os._exit(0 if ok else 3)
            deadline = time.monotonic() + 30
            while True:
                got, status = os.waitpid(pid, os.WNOHANG)
                if got == pid:
                    statuses.append(os.waitstatus_to_exitcode(status))
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, 9)
                    statuses.append("hung")
                    break
                time.sleep(0.01)
        print("children", statuses, flush=True)
        # exit with the submitters still running: the exit hook must cope
    """
    proc = python_script(source, timeout=120, env={"DFTRACER_UTILS_EXIT_GRACE": "1"})
    assert "terminate called" not in proc.stderr and "Fatal Python error" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["children [0, 0, 0, 0, 0]"], proc.stderr
