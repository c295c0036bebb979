"""Regression tests for what an adversarial trial of the runtime reproduced
(issue 10), one or more per finding, each named for the behaviour a user
relies on. Process-level cases (exit, fork, signals, thread limits) run in a
fresh interpreter. The scripts/sanitize.sh `python` mode runs this file
against an AddressSanitizer build of the extension."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from typing import Any, List

import pytest

import dftracer.utils as dft

# DFTRACER_STRESS_SCALE shrinks (CI, sanitizers) or grows (soak) the loops.
SCALE = float(os.environ.get("DFTRACER_STRESS_SCALE", "1"))


def scaled(n: int, minimum: int = 10) -> int:
    return max(minimum, int(n * SCALE))


def _busy_gap(rng: random.Random) -> None:
    until = time.perf_counter() + rng.random() * 80e-6
    while time.perf_counter() < until:
        pass


# -- 1. lost wake-ups --------------------------------------------------------


def test_queue_producer_consumer_pair_never_deadlocks() -> None:
    """Two tasks on threads=2 talk through a queue.Queue: the consumer blocks
    in get() where the pool cannot see it; the producer, submitted a random
    moment later, must always run (it deadlocked about once in 15k rounds)."""
    rng = random.Random(10)
    with dft.Runtime(threads=2, io_threads=1, watchdog_interval=0) as rt:
        for i in range(scaled(20_000, 500)):
            q: "queue.Queue[int]" = queue.Queue()
            consumer = rt.submit(q.get, timeout=20)
            _busy_gap(rng)
            rt.submit(q.put, i)
            assert consumer.get(timeout=60) == i, f"round {i}"


def test_event_set_by_a_later_task_is_seen_by_a_blocked_one() -> None:
    """The same hand-off through a threading.Event, the producer submitted
    from inside the waiter (onto its worker's own deque)."""
    rng = random.Random(11)
    with dft.Runtime(threads=2, io_threads=1, watchdog_interval=0) as rt:
        for i in range(scaled(5_000, 200)):
            ev = threading.Event()

            def waiter(ev: threading.Event = ev) -> bool:
                _busy_gap(rng)
                rt.submit(ev.set)
                return ev.wait(20)

            assert rt.submit(waiter).get(timeout=60), f"round {i}"


# -- 2. dropping the runtime inside its own task -----------------------------


def test_dropping_the_last_reference_inside_a_task_tears_down_cleanly() -> None:
    """The task that drops the last reference keeps running (and gives its
    python_threads permit back afterwards) while the runtime is torn down
    elsewhere; nothing it uses may be freed under it."""
    for _ in range(scaled(50, 10)):
        holder: List[Any] = [dft.Runtime(threads=2, io_threads=1, python_threads=1)]
        done = threading.Event()

        def drop_it(holder: List[Any] = holder, done: threading.Event = done) -> str:
            holder.clear()  # the last reference: ~Runtime starts here
            time.sleep(0.001)
            done.set()
            return "survived"

        h = holder[0].submit(drop_it)
        assert done.wait(30)
        assert h.get(timeout=30) == "survived"
        assert dft._core.wait_for_reapers(30)


def test_dropping_the_last_reference_inside_an_error_callback_is_safe() -> None:
    holder: List[Any] = [dft.Runtime(threads=2, io_threads=1)]
    called = threading.Event()

    def on_error(h: Any, e: BaseException) -> None:
        holder.clear()
        called.set()

    holder[0].set_error_callback(on_error)

    def fail() -> None:
        raise ValueError("boom")

    h = holder[0].submit(fail)
    with pytest.raises(ValueError):
        h.get(timeout=30)
    assert called.wait(30)
    assert dft._core.wait_for_reapers(30)


# -- 3. callbacks of timed-out tasks -------------------------------------------


def _stuck() -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not dft.cancelled():
        time.sleep(0.001)


@pytest.mark.parametrize("action", ["wait_all", "shutdown", "get_other"])
def test_timed_out_task_callback_that_waits_or_shuts_down_cannot_deadlock(action: str) -> None:
    rt = dft.Runtime(threads=2, io_threads=1, watchdog_interval=10)
    outcomes: "queue.Queue[str]" = queue.Queue()
    other = rt.submit(lambda: "other")

    def on_error(h: Any, e: BaseException) -> None:
        try:
            if action == "wait_all":
                rt.wait_all()
            elif action == "shutdown":
                rt.shutdown()
            else:
                outcomes.put(other.get(timeout=10))
                return
            outcomes.put("not refused")
        except RuntimeError as exc:
            outcomes.put("refused" if "wait for itself" in str(exc) else f"other error: {exc}")

    rt.set_error_callback(on_error)
    rt.set_default_task_timeout("50ms")
    first = rt.submit(_stuck)
    with pytest.raises(dft.TaskTimeoutError):
        first.get(timeout=30)
    expected = "other" if action == "get_other" else "refused"
    assert outcomes.get(timeout=30) == expected
    second = rt.submit(_stuck)
    with pytest.raises(dft.TaskTimeoutError):
        second.get(timeout=30)  # later timeouts are still enforced
    assert outcomes.get(timeout=30) == expected
    rt.shutdown(wait=False)


def test_timed_out_task_callback_that_drops_the_runtime_is_safe() -> None:
    holder: List[Any] = [dft.Runtime(threads=2, io_threads=1, watchdog_interval=10)]
    called = threading.Event()

    def on_error(h: Any, e: BaseException) -> None:
        holder.clear()
        called.set()

    holder[0].set_error_callback(on_error)
    holder[0].set_default_task_timeout("50ms")
    h = holder[0].submit(_stuck)
    with pytest.raises(dft.TaskTimeoutError):
        h.get(timeout=30)
    assert called.wait(30)
    assert dft._core.wait_for_reapers(30)


# -- 5. blocked daemon threads at interpreter exit ------------------------------


@pytest.mark.parametrize("call", ["h.get()", "rt.wait_all()", "h.get(timeout=60)"])
def test_daemon_thread_blocked_in_a_wait_at_exit_does_not_abort(call: str, python_script: Any) -> None:
    source = f"""
        import threading, time
        import dftracer.utils as dft
        rt = dft.Runtime(threads=1)
        h = rt.submit(time.sleep, 30)
        threading.Thread(target=lambda: {call}, daemon=True).start()
        time.sleep(0.2)
        print("exiting", flush=True)
    """
    proc = python_script(source, timeout=60, env={"DFTRACER_UTILS_EXIT_GRACE": "0.2"})
    assert "terminate called" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert proc.stdout.splitlines() == ["exiting"]


# -- 6. shutdown while other threads keep submitting -----------------------------


@pytest.mark.parametrize("wait", [True, False])
def test_shutdown_returns_while_other_threads_keep_submitting(wait: bool) -> None:
    rt = dft.Runtime(threads=2, io_threads=1)
    stop = threading.Event()
    refused = [0, 0]

    def submitter(k: int) -> None:
        while not stop.is_set():
            try:
                rt.submit(time.sleep, 0.0005)
            except RuntimeError:
                refused[k] += 1
                time.sleep(0.001)

    threads = [threading.Thread(target=submitter, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    done = threading.Event()

    def shut() -> None:
        rt.shutdown(wait=wait)
        done.set()

    shutter = threading.Thread(target=shut)
    shutter.start()
    finished = done.wait(30)
    stop.set()
    for t in threads:
        t.join()
    shutter.join(30)
    assert finished, "shutdown() never returned while others submitted"
    assert sum(refused) > 0


# -- 7. global timeout with queued tasks ----------------------------------------


def test_global_timeout_on_queued_tasks_empties_the_queue_and_reports_no_stall() -> None:
    rt = dft.Runtime(threads=1, io_threads=1, watchdog_interval=10, stall_threshold="200ms", starvation_threshold="60s")
    release = threading.Event()
    # Ignores its cancel token: the worker stays busy, so the queued tasks
    # can only leave the queue by timing out there.
    blocker = rt.submit(release.wait, 30)
    queued = [rt.submit(lambda: None) for _ in range(20)]
    rt.set_timeout("100ms")
    for h in queued:
        with pytest.raises(dft.TaskTimeoutError):
            h.get(timeout=30)
    with pytest.raises(dft.TaskTimeoutError):
        blocker.get(timeout=30)
    time.sleep(0.4)  # past the stall threshold
    p = rt.get_progress()
    assert p["queued"] == 0, p
    assert p["timed_out"] == 21
    assert not p["watchdog"]["stalled"], "a stall reported with nothing queued"
    release.set()
    rt.shutdown(wait=False)


# -- 8. the timeout interrupt hits only its own task -------------------------------


def test_parent_timeout_does_not_interrupt_a_child_running_inline_in_its_get() -> None:
    with dft.Runtime(threads=1, io_threads=1, watchdog_interval=10) as rt:
        rt.set_default_task_timeout("300ms")

        def child() -> str:
            until = time.monotonic() + 0.2  # busy in bytecode across the parent's deadline
            while time.monotonic() < until:
                pass
            return "child ok"

        child_handles: "queue.Queue[Any]" = queue.Queue()

        def parent() -> str:
            until = time.monotonic() + 0.2
            while time.monotonic() < until:
                pass
            h = rt.submit(child)  # runs inline in our get(), on our thread
            child_handles.put(h)
            return str(h.get())

        p = rt.submit(parent)
        with pytest.raises(dft.TaskTimeoutError):
            p.get(timeout=30)
        assert child_handles.get(timeout=30).get(timeout=30) == "child ok"


# -- 9. os.fork() inside a task ------------------------------------------------


@pytest.mark.forks
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_inside_a_task_child_exits_without_running_the_parents_tasks(python_script: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = f"""
            import os, time
            import dftracer.utils as dft
            marks = {tmp!r}
            rt = dft.Runtime(threads=1, io_threads=1)
            def forker():
                time.sleep(0.1)  # the tasks below are queued by now
                return os.fork()
            def mark(i):
                open(os.path.join(marks, f"{{os.getpid()}}-{{i}}"), "w").close()
            f = rt.submit(forker)
            for i in range(5):
                rt.submit(mark, i)
            pid = f.get(timeout=30)
            if pid > 0:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    got, status = os.waitpid(pid, os.WNOHANG)
                    if got == pid:
                        print("child status", os.waitstatus_to_exitcode(status), flush=True)
                        break
                    time.sleep(0.01)
                else:
                    os.kill(pid, 9)
                    print("child hung", flush=True)
                rt.wait_all()
                print("child marks", sum(1 for n in os.listdir(marks) if n.startswith(f"{{pid}}-")), flush=True)
        """
        proc = python_script(source, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["child status 0", "child marks 0"], proc.stderr


# -- 10. thread limits ----------------------------------------------------------


def test_absurd_thread_counts_are_a_value_error_before_any_thread_starts() -> None:
    with pytest.raises(ValueError, match="4096"):
        dft.Runtime(threads=20000)
    with pytest.raises(ValueError):
        dft.Runtime(threads=2, io_threads=10**6)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS semantics")
def test_thread_creation_failure_is_a_runtime_error_naming_the_limit(python_script: Any) -> None:
    source = """
        import resource
        import dftracer.utils as dft
        rt = dft.Runtime(threads=1)       # the extension and its first threads, before the limit
        rt.shutdown()
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * resource.getpagesize()
        limit = size + 256 * 1024 * 1024  # room for ~30 default 8 MiB stacks, not 2000
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            dft.Runtime(threads=2000, io_threads=1)
            print("no error")
        except RuntimeError as e:
            print("RuntimeError", "could not start" in str(e), "ulimit" in str(e))
        again = dft.Runtime(threads=1, io_threads=1)
        print("alive", again.submit(lambda: 7).get())
    """
    proc = python_script(source, timeout=60)
    assert "terminate called" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["RuntimeError True True", "alive 7"], proc.stderr


# -- 11. deep chains of timed waits --------------------------------------------


def test_deep_chain_of_get_with_timeout_on_one_thread_does_not_stall() -> None:
    with dft.Runtime(threads=1, io_threads=1) as rt:

        def level(depth: int) -> int:
            if depth == 0:
                return 0
            return int(rt.submit(level, depth - 1).get(timeout=120)) + 1

        t0 = time.monotonic()
        assert rt.submit(level, 300).get(timeout=120) == 300
        assert time.monotonic() - t0 < 60, "the chain waited for its timeouts"


# -- 13. Ctrl-C during the exit grace period ------------------------------------


@pytest.mark.parametrize("presses", [1, 2, 3])
def test_ctrl_c_during_the_exit_grace_period_exits_promptly(presses: int) -> None:
    source = textwrap.dedent(
        """
        import time
        import dftracer.utils as dft
        rt = dft.Runtime(threads=1, io_threads=1)
        def spin():
            while True:
                pass
        rt.submit(spin)
        time.sleep(0.1)
        print("exiting", flush=True)
        """
    )
    env = dict(os.environ, DFTRACER_UTILS_EXIT_GRACE="20")
    proc = subprocess.Popen(
        [sys.executable, "-c", source], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "exiting"
        time.sleep(0.3)  # inside the exit hook's grace period now
        t0 = time.monotonic()
        for _ in range(presses):
            os.kill(proc.pid, signal.SIGINT)
            time.sleep(0.2)
        proc.wait(timeout=15)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            pytest.fail("the process hung after Ctrl-C at exit")
    err = proc.stderr.read() if proc.stderr else ""
    assert "terminate called" not in err and "Fatal Python error" not in err, err
    assert elapsed < 10, elapsed
    assert "leaving their threads behind" in err, err
