"""Python callables on the C++ pool: they really run in parallel when they
release the GIL, python_threads caps them, and many Python threads can
submit at once."""

from __future__ import annotations

import threading
import time
from typing import Tuple

import pytest

import dftracer.utils as dft


def _sleeper(counter, seconds=0.05):
    with counter:
        time.sleep(seconds)  # releases the GIL


@pytest.mark.parametrize("threads, cap", [(4, 1), (4, 2), (4, 3), (3, 2)])
def test_python_threads_caps_callables_running_at_once(threads, cap, concurrency):
    counter = concurrency
    with dft.Runtime(threads=threads, io_threads=1, python_threads=cap) as rt:
        for _ in range(6 * threads):
            rt.submit(_sleeper, counter)
        rt.wait_all()
        assert rt.python_threads == cap
    print(f"threads={threads} python_threads={cap}: peak {counter.peak}")
    assert counter.peak == cap


def test_uncapped_python_callables_run_on_every_worker(concurrency):
    counter = concurrency
    with dft.Runtime(threads=4, io_threads=1) as rt:
        t0 = time.monotonic()
        for _ in range(16):
            rt.submit(_sleeper, counter, 0.1)
        rt.wait_all()
        elapsed = time.monotonic() - t0
    print(f"uncapped peak {counter.peak}, 16 x 100 ms sleeps in {elapsed:.2f} s")
    assert counter.peak == 4
    assert elapsed < 1.2  # serial would be 1.6 s; 4-wide is 0.4 s


def test_python_threads_cap_holds_while_parents_wait_on_children(concurrency):
    counter = concurrency
    with dft.Runtime(threads=4, python_threads=2) as rt:

        def parent():
            with counter:
                time.sleep(0.01)
            children = [rt.submit(_sleeper, counter, 0.02) for _ in range(3)]
            for c in children:
                c.get()  # a waiting parent gives its permit back

        parents = [rt.submit(parent) for _ in range(8)]
        for p in parents:
            p.get(timeout=60)
    assert counter.peak <= 2


def test_100k_tasks_submitted_from_4_python_threads_at_once(rt):
    per_thread = 25_000
    results = {}
    errors = []
    start = threading.Barrier(4)

    def submitter(t):
        try:
            start.wait()
            handles = [rt.submit(divmod, t * per_thread + i, 7) for i in range(per_thread)]
            results[t] = [h.get() for h in handles]
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=submitter, args=(t,)) for t in range(4)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    elapsed = time.monotonic() - t0
    print(f"100k tasks from 4 threads: {elapsed:.2f} s ({elapsed / 100_000 * 1e6:.1f} us/task)")
    assert not errors
    for t in range(4):
        assert results[t] == [divmod(t * per_thread + i, 7) for i in range(per_thread)]
    rt.wait_all()
    progress = rt.get_progress()
    assert (progress["total"], progress["completed"], progress["failed"]) == (100_000, 100_000, 0)
    assert (progress["running"], progress["queued"]) == (0, 0)


def test_submitting_while_other_threads_wait_all(rt):
    stop = threading.Event()
    seen = []

    def waiter():
        while not stop.is_set():
            rt.wait_all()
            seen.append(1)

    w = threading.Thread(target=waiter)
    w.start()
    handles = [rt.submit(lambda i=i: i) for i in range(5000)]
    assert sum(h.get() for h in handles) == sum(range(5000))
    stop.set()
    w.join(30)
    assert not w.is_alive() and seen


def test_gil_holding_callables_still_all_run(rt):
    def spin(n):
        total = 0
        for i in range(n):
            total += i
        return total

    handles = [rt.submit(spin, 20_000) for _ in range(200)]
    assert all(h.get() == sum(range(20_000)) for h in handles)


def test_worker_keeps_one_thread_state_for_its_life():
    # The same OS thread runs every callable and threading sees it as one
    # thread (a fresh thread state per call would show new idents/locals).
    # caller_runs=False: the waiting main thread must not run them itself.
    rt1 = dft.Runtime(threads=1, io_threads=1, caller_runs=False)
    local = threading.local()

    def bump():
        local.n = getattr(local, "n", 0) + 1
        return threading.get_ident(), local.n

    results = [rt1.submit(bump).get() for _ in range(50)]
    rt1.shutdown()
    assert len({ident for ident, _ in results}) == 1
    assert threading.get_ident() not in {ident for ident, _ in results}
    assert [n for _, n in results] == list(range(1, 51))


def test_caller_runs_keeps_results_names_and_concurrency_right():
    # A task waited for may run on the waiting thread (caller runs) or on
    # the worker, whichever gets it first; either way its result, name and
    # counts are right, and never more tasks run at once than workers.
    with dft.Runtime(threads=1, io_threads=1) as rt:
        inside = [0]
        most = [0]
        lock = threading.Lock()

        def probe(i: int) -> Tuple[int, int]:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.0001)
            with lock:
                inside[0] -= 1
            return i, threading.get_ident()

        seen = set()
        for i in range(300):
            h = rt.submit(probe, i, name=f"probe-{i}")
            value, ident = h.get()
            assert value == i and h.name == f"probe-{i}" and h.state == "completed"
            seen.add(ident)
        assert len(seen) <= 2  # the one worker, and this thread
        assert most[0] <= 2  # the worker, plus at most one caller for a moment
        rt.wait_all()
        assert rt.get_progress()["completed"] == 300


def test_caller_runs_off_keeps_tasks_on_workers_and_timeouts_still_apply():
    with dft.Runtime(threads=1, io_threads=1, caller_runs=False) as rt:
        assert rt.submit(threading.get_ident).get() != threading.get_ident()
    with dft.Runtime(threads=1, io_threads=1, watchdog_interval=10) as rt:
        rt.set_default_task_timeout("50ms")
        release = threading.Event()
        busy = rt.submit(release.wait, 30)

        def spin() -> None:
            while True:  # bytecode: the timeout interrupt can land
                pass

        with pytest.raises(dft.TaskTimeoutError):
            rt.submit(spin).get()  # runs here, on the main thread, and times out here
        release.set()
        with pytest.raises(dft.TaskTimeoutError):
            busy.get()
