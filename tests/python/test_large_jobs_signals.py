"""Ctrl-C in the large-job waits: a submit() waiting for a max_pending slot,
as_completed, wait, map (either order) and wait_all(progress=True) raise
KeyboardInterrupt in the main thread, and the runtime stays usable. Each
case runs in a fresh interpreter that the test signals."""

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
    rt = dft.Runtime(threads=2, io_threads=1, max_pending=2 if mode == "submit_full" else 0)

    def sleeper(_=None):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not dft.cancelled():
            time.sleep(0.01)
        return "slept"

    held = [rt.submit(sleeper, name="sleeper") for _ in range(2)]
    print("ready", flush=True)
    try:
        if mode == "submit_full":
            rt.submit(sleeper)
        elif mode == "as_completed":
            list(dft.as_completed(held))
        elif mode == "wait":
            dft.wait(held)
        elif mode == "map":
            list(rt.map(sleeper, range(3)))
        elif mode == "map_unordered":
            list(rt.map(sleeper, range(3), ordered=False))
        elif mode == "wait_all_progress":
            rt.wait_all(progress=True)
        print("not interrupted", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    for h in held:
        h.cancel()
    print("after", rt.submit(lambda: 40 + 2).get(timeout=30), flush=True)
    rt.shutdown(wait=False)
    print("clean", flush=True)
    """
)


@pytest.mark.parametrize("mode", ["submit_full", "as_completed", "wait", "map", "map_unordered", "wait_all_progress"])
def test_sigint_interrupts_a_large_job_wait_and_the_runtime_stays_usable(mode):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # let the main thread settle into the blocking call
        os.kill(proc.pid, signal.SIGINT)
        assert proc.stdout.readline().strip() == "interrupted"
        proc.wait(timeout=60)
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert out.splitlines() == ["after 42", "clean"], err
    assert proc.returncode == 0, err
