"""Process lifecycle, each case in a fresh interpreter: exiting with tasks
still queued or running (including one spinning in Python and one asleep in
C) exits with status 0, no crash, no hang; os.fork() leaves the parent's
runtime working, lets the child build its own, and refuses the parent's in
the child."""

from __future__ import annotations

import sys
import time

import pytest

# Keeps each exit case quick: running tasks get this long before their
# threads are left behind.
FAST_EXIT = {"DFTRACER_UTILS_EXIT_GRACE": "0.5"}


def _assert_clean(proc, expected_stdout):
    assert "Fatal Python error" not in proc.stderr, proc.stderr
    assert "FATAL" not in proc.stderr and "terminate called" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert proc.stdout.splitlines() == expected_stdout, proc.stderr


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param("for _ in range(2000): rt.submit(time.sleep, 0.01)", id="queued"),
        pytest.param("rt.submit(time.sleep, 60)", id="running-time-sleep"),
        pytest.param(
            "def spin():\n    while True:\n        pass\nrt.submit(spin)",
            id="running-python-busy-loop",
        ),
        pytest.param(
            "def spin():\n    while not dft.cancelled():\n        pass\nrt.submit(spin)",
            id="running-cooperative-loop",
        ),
        pytest.param(
            "def spin():\n    while True:\n        pass\n"
            "for _ in range(3): rt.submit(spin)\n"
            "rt.submit(time.sleep, 60)\n"
            "for _ in range(100): rt.submit(time.sleep, 1)",
            id="mixed-busy-sleeping-queued",
        ),
        pytest.param(
            "def parent():\n    return rt.submit(time.sleep, 60).get()\nrt.submit(parent)",
            id="running-nested-wait",
        ),
        pytest.param(
            # Fails after the grace period: its error callback must not run
            # (no worker touches Python once the interpreter is exiting).
            "def failing():\n    time.sleep(1.5)\n    raise ValueError('late')\n"
            "rt.set_error_callback(lambda h, e: print('callback', flush=True))\n"
            "rt.submit(failing)",
            id="failing-after-exit-grace",
        ),
    ],
)
def test_interpreter_exit_with_tasks_outstanding_is_clean(setup, python_script):
    source = (
        "import time\nimport dftracer.utils as dft\n"
        "rt = dft.Runtime(threads=4, io_threads=1)\n"
        f"{setup}\n"
        "time.sleep(0.2)\n"
        "print('exiting', flush=True)\n"
    )
    t0 = time.monotonic()
    proc = python_script(source, timeout=60, env=FAST_EXIT)
    elapsed = time.monotonic() - t0
    print(f"exit took {elapsed:.2f} s")
    _assert_clean(proc, ["exiting"])
    assert elapsed < 20


def test_exit_waits_for_short_running_tasks_to_finish(python_script):
    source = """
        import time
        import dftracer.utils as dft
        rt = dft.Runtime(threads=2)
        def job():
            time.sleep(0.3)
            print("job finished", flush=True)
        rt.submit(job)
        time.sleep(0.05)
        print("exiting", flush=True)
    """
    proc = python_script(source, timeout=60, env={"DFTRACER_UTILS_EXIT_GRACE": "5"})
    _assert_clean(proc, ["exiting", "job finished"])


def test_exit_with_unreferenced_runtime_and_pending_results_is_clean(python_script):
    source = """
        import dftracer.utils as dft
        def make():
            rt = dft.Runtime(threads=2)
            return [rt.submit(lambda i=i: [i] * 100) for i in range(1000)]
        handles = make()
        print(len(handles), flush=True)
    """
    proc = python_script(source, timeout=60, env=FAST_EXIT)
    _assert_clean(proc, ["1000"])


def test_exit_from_sys_exit_inside_with_block_is_clean(python_script):
    source = """
        import sys, time
        import dftracer.utils as dft
        with dft.Runtime(threads=2) as rt:
            rt.submit(time.sleep, 0.1)
            sys.exit(0)
    """
    proc = python_script(source, timeout=60, env=FAST_EXIT)
    _assert_clean(proc, [])


def test_exit_while_main_thread_never_waited_logs_a_warning_for_stuck_tasks(python_script):
    source = """
        import dftracer.utils as dft
        import threading
        rt = dft.Runtime(threads=1)
        started = threading.Event()
        def spin():
            started.set()
            while True:
                pass
        rt.submit(spin, name="stuck")
        started.wait(10)
    """
    proc = python_script(source, timeout=60, env=FAST_EXIT)
    _assert_clean(proc, [])
    assert "1 task(s) still running" in proc.stderr


@pytest.mark.forks
@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_fork_child_gets_a_fresh_runtime_and_parent_keeps_working(python_script):
    source = """
        import os, time
        import dftracer.utils as dft

        rt = dft.Runtime(threads=2)
        assert rt.submit(lambda: 1).get() == 1
        busy = rt.submit(time.sleep, 0.5)   # running while we fork

        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                rt.submit(lambda: 2)
                code = 10
            except RuntimeError as e:
                print("child: parent runtime refused:", "os.fork" in str(e), flush=True)
            try:
                rt.wait_all()
                code = 11
            except RuntimeError:
                print("child: wait_all refused", flush=True)
            try:
                busy.get()
                code = 12
            except RuntimeError as e:
                print("child: inherited handle refused:", "never finish" in str(e), flush=True)
            with dft.Runtime(threads=2) as child_rt:
                total = sum(h.get() for h in [child_rt.submit(lambda i=i: i) for i in range(1000)])
                nested = child_rt.submit(lambda: child_rt.submit(lambda: "nested").get()).get(timeout=30)
            print("child:", total, nested, flush=True)
            os._exit(code)

        _, status = os.waitpid(pid, 0)
        print("parent: child exit", os.waitstatus_to_exitcode(status), flush=True)
        print("parent:", busy.get(), sum(h.get() for h in [rt.submit(lambda i=i: i) for i in range(1000)]), flush=True)
        rt.shutdown()
    """
    proc = python_script(source, timeout=60)
    _assert_clean(
        proc,
        [
            "child: parent runtime refused: True",
            "child: wait_all refused",
            "child: inherited handle refused: True",
            "child: 499500 nested",
            "parent: child exit 0",
            "parent: None 499500",
        ],
    )


@pytest.mark.forks
@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_forked_child_exits_normally_with_inherited_runtime(python_script):
    # The child neither joins nor frees the parent's threads on its way out.
    source = """
        import os, sys, time
        import dftracer.utils as dft
        rt = dft.Runtime(threads=2)
        rt.submit(time.sleep, 1)
        pid = os.fork()
        if pid == 0:
            print("child exiting", flush=True)
            sys.exit(0)          # full interpreter exit, atexit hooks included
        _, status = os.waitpid(pid, 0)
        print("child status", os.waitstatus_to_exitcode(status), flush=True)
    """
    proc = python_script(source, timeout=60)
    _assert_clean(proc, ["child exiting", "child status 0"])


@pytest.mark.forks
@pytest.mark.skipif(sys.platform != "linux", reason="multiprocessing fork start method")
def test_multiprocessing_fork_pool_with_runtime_in_parent(python_script):
    source = """
        import multiprocessing as mp
        import dftracer.utils as dft

        def work(i):
            with dft.Runtime(threads=1) as rt:
                return rt.submit(lambda: i * i).get()

        if __name__ == "__main__":
            rt = dft.Runtime(threads=2)
            rt.submit(sum, [1, 2]).get()
            with mp.get_context("fork").Pool(2) as pool:
                print(sum(pool.map(work, range(10))), flush=True)
            print(rt.submit(sum, [1, 2]).get(), flush=True)
    """
    proc = python_script(source, timeout=60)
    _assert_clean(proc, ["285", "3"])


def test_several_stuck_runtimes_share_one_exit_grace_period(python_script):
    source = """
        import time
        import dftracer.utils as dft
        def spin():
            while True:
                pass
        runtimes = [dft.Runtime(threads=1, io_threads=1) for _ in range(3)]
        for rt in runtimes:
            rt.submit(spin)
        time.sleep(0.2)
    """
    t0 = time.monotonic()
    proc = python_script(source, timeout=60, env={"DFTRACER_UTILS_EXIT_GRACE": "1.5"})
    elapsed = time.monotonic() - t0
    print(f"exit with 3 stuck runtimes took {elapsed:.2f} s (grace 1.5 s)")
    _assert_clean(proc, [])
    assert proc.stderr.count("still running") == 3
    assert elapsed < 3.5  # one grace period (plus start-up), not three
