"""Python callables on the C++ pool: they really run in parallel when they
release the GIL, python_threads caps them, and many Python threads can
submit at once."""

from __future__ import annotations

import threading
import time

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


def test_worker_keeps_one_thread_state_for_its_life(rt1):
    # The same OS thread runs every callable and threading sees it as one
    # thread (a fresh thread state per call would show new idents/locals).
    local = threading.local()

    def bump():
        local.n = getattr(local, "n", 0) + 1
        return threading.get_ident(), local.n

    results = [rt1.submit(bump).get() for _ in range(50)]
    assert len({ident for ident, _ in results}) == 1
    assert [n for _, n in results] == list(range(1, 51))
