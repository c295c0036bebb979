"""Ctrl-C: SIGINT raises KeyboardInterrupt promptly in a main thread blocked
in get(), wait(), wait_all() or shutdown(), and the runtime stays usable.
Each case runs in a fresh interpreter that the test signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

CHILD = textwrap.dedent(
    """
    import sys, time
    import dftracer.utils as dft

    mode = sys.argv[1]
    rt = dft.Runtime(threads=2, io_threads=1)

    def sleeper():
        # Releases the GIL; stops early when cancelled.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not dft.cancelled():
            time.sleep(0.01)
        return "slept"

    h = rt.submit(sleeper, name="sleeper")
    # Started on a worker first: a task nobody has started would be run by
    # this thread itself when it waits (caller runs), and the interrupt
    # would then land inside the task.
    while h.state == "queued":
        time.sleep(0.001)
    print("ready", flush=True)
    try:
        if mode == "get":
            h.get()
        elif mode == "get_timeout":
            h.get(timeout=30)
        elif mode == "wait":
            h.wait()
        elif mode == "wait_all":
            rt.wait_all()
        elif mode == "wait_all_raise":
            rt.wait_all(raise_on_error=True)
        elif mode == "shutdown":
            rt.shutdown()
        print("not interrupted", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    # Still usable after the interrupt.
    print("after", rt.submit(lambda: 40 + 2).get(timeout=30), flush=True)
    h.cancel()
    print("sleeper", h.get(timeout=30), flush=True)
    rt.shutdown(wait=False)
    print("clean", flush=True)
    """
)


def _rest_of_output(proc):
    """What the child writes after the lines already read with readline().

    Not communicate(): it reads the pipes' file descriptors directly and
    would miss lines readline() already pulled into the stream's buffer.
    The child's output is tiny, so waiting first cannot fill a pipe."""
    proc.wait(timeout=60)
    return proc.stdout.read(), proc.stderr.read()


@pytest.mark.parametrize("mode", ["get", "get_timeout", "wait", "wait_all", "wait_all_raise", "shutdown"])
def test_sigint_interrupts_blocking_call_promptly_and_runtime_stays_usable(mode):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # let the main thread settle into the blocking call
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        line = proc.stdout.readline().strip()
        latency = time.monotonic() - t0
        print(f"{mode}: KeyboardInterrupt {latency * 1e3:.1f} ms after SIGINT")
        assert line == "interrupted"
        assert latency < 1.0  # goal ~100 ms; loose for a noisy machine
        out, err = _rest_of_output(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert out.splitlines() == ["after 42", "sleeper slept", "clean"], err
    assert proc.returncode == 0, err


def test_sigint_during_nested_wait_reaches_main_thread_only():
    # Workers block signals: SIGINT while tasks run (and wait on each other)
    # interrupts only the main thread's wait; the tasks all complete.
    source = textwrap.dedent(
        """
        import time
        import dftracer.utils as dft
        rt = dft.Runtime(threads=2)
        def child(i):
            time.sleep(0.3)
            return i
        def parent(i):
            return rt.submit(child, i).get()
        hs = [rt.submit(parent, i) for i in range(8)]
        print("ready", flush=True)
        try:
            rt.wait_all()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        print(sum(h.get(timeout=60) for h in hs), flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", source], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        os.kill(proc.pid, signal.SIGINT)
        out, err = _rest_of_output(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert out.splitlines() == ["interrupted", str(sum(range(8)))], err
    assert proc.returncode == 0, err
