"""Runtime(max_pending=N): submit() waits (GIL released) while N tasks are
queued or running; try_submit() raises RuntimeFullError instead; the bound
holds for several submitting threads and for native (C ABI) submissions;
tasks submitting into a full runtime never deadlock."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

import dftracer.utils as dft


@pytest.fixture(scope="module")
def native_ext() -> ModuleType:
    """The example C ABI extension (tests/native_ext), installed if missing."""
    try:
        return importlib.import_module("dftracer_native_example")
    except ImportError:
        pass
    example = Path(__file__).resolve().parents[1] / "native_ext"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", str(example)], check=True)
    importlib.invalidate_caches()
    return importlib.import_module("dftracer_native_example")


def test_max_pending_is_validated_and_reported():
    with pytest.raises(ValueError, match="max_pending"):
        dft.Runtime(threads=1, max_pending=-1)
    with pytest.raises(TypeError, match="max_pending"):
        dft.Runtime(threads=1, max_pending=2.5)  # type: ignore[arg-type]
    with dft.Runtime(threads=1, io_threads=1, max_pending=7) as rt:
        assert rt.max_pending == 7 and rt.pending == 0
    with dft.Runtime(threads=1, io_threads=1) as rt:
        assert rt.max_pending == 0
        assert rt.try_submit(lambda: 1).get(timeout=30) == 1  # no bound: never full


def test_submit_waits_while_full_with_the_gil_released():
    with dft.Runtime(threads=2, io_threads=1, max_pending=2) as rt:
        gate = threading.Event()
        held = [rt.submit(gate.wait, 30) for _ in range(2)]
        assert rt.pending == 2
        submitted = threading.Event()
        ticks = []

        def producer():
            rt.submit(lambda: "third").get(timeout=30)
            submitted.set()

        def ticker():  # runs only if the blocked submit released the GIL
            for _ in range(20):
                ticks.append(1)
                time.sleep(0.005)

        p = threading.Thread(target=producer)
        p.start()
        time.sleep(0.05)
        t = threading.Thread(target=ticker)
        t.start()
        t.join(30)
        assert len(ticks) == 20
        assert not submitted.is_set()  # still waiting for room
        gate.set()
        assert submitted.wait(30)
        p.join(30)
        assert all(h.get(timeout=30) for h in held)


def test_try_submit_raises_runtime_full_error_instead_of_waiting():
    with dft.Runtime(threads=1, io_threads=1, max_pending=1) as rt:
        gate = threading.Event()
        held = rt.submit(gate.wait, 30)
        with pytest.raises(dft.RuntimeFullError, match=r"1 tasks pending \(max_pending=1\)"):
            rt.try_submit(lambda: 1)
        t0 = time.monotonic()
        with pytest.raises(dft.RuntimeFullError, match="after waiting"):
            rt.try_submit(lambda: 1, timeout=0.1)
        assert time.monotonic() - t0 >= 0.09
        assert isinstance(dft.RuntimeFullError("x"), RuntimeError)
        threading.Timer(0.05, gate.set).start()
        h = rt.try_submit(lambda x: x + 1, 1, name="after-room", timeout=30)
        assert h.get(timeout=30) == 2 and h.name == "after-room"
        assert held.get(timeout=30) is True


def test_try_submit_validates_its_timeout(rt):
    with pytest.raises(TypeError, match="timeout"):
        rt.try_submit(lambda: 1, timeout="1s")
    with pytest.raises(ValueError, match="timeout"):
        rt.try_submit(lambda: 1, timeout=-1)


def test_several_submitting_threads_never_exceed_the_bound(wait_until):
    with dft.Runtime(threads=2, io_threads=1, max_pending=5) as rt:
        peak = []
        lock = threading.Lock()

        def work(i):
            with lock:
                peak.append(rt.pending)
            time.sleep(0.0002 * (i % 3))
            return i

        results = {}

        def producer(k):
            handles = [rt.submit(work, i) for i in range(400)]
            results[k] = [h.get(timeout=60) for h in handles]

        threads = [threading.Thread(target=producer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert results == {k: list(range(400)) for k in range(4)}
        assert max(peak) <= 5
        assert wait_until(lambda: rt.pending == 0)


def test_tasks_submitting_into_a_full_runtime_do_not_deadlock():
    # Every pending task is a producer: its own submissions are admitted over
    # the bound, so nothing waits for a slot only it could free.
    with dft.Runtime(threads=1, io_threads=1, max_pending=2) as rt:

        def parent(n):
            return sum(h.get() for h in [rt.submit(int, i) for i in range(n)])

        parents = [rt.submit(parent, 50) for _ in range(2)]
        assert [p.get(timeout=60) for p in parents] == [sum(range(50))] * 2
        rt.wait_all()
        assert rt.pending == 0


def test_a_submitter_waiting_for_room_gets_an_error_when_the_runtime_shuts_down():
    rt = dft.Runtime(threads=1, io_threads=1, max_pending=1)
    gate = threading.Event()
    rt.submit(gate.wait, 30)
    outcome = []

    def producer():
        try:
            rt.submit(lambda: 1)
            outcome.append("submitted")
        except RuntimeError as e:
            outcome.append(str(e))

    p = threading.Thread(target=producer)
    p.start()
    time.sleep(0.05)
    closer = threading.Thread(target=rt.shutdown)
    closer.start()
    time.sleep(0.05)
    gate.set()
    p.join(30)
    closer.join(30)
    assert len(outcome) == 1 and ("shut down" in outcome[0] or outcome[0] == "submitted")


def test_wait_all_and_get_work_under_the_bound():
    with dft.Runtime(threads=2, io_threads=1, max_pending=3) as bounded:
        handles = [bounded.submit(time.sleep, 0.001) for _ in range(100)]
        bounded.wait_all()
        assert all(h.done() for h in handles) and bounded.pending == 0


def test_native_submissions_wait_for_room_without_holding_the_gil(python_script, tmp_path, native_ext):
    # A C ABI submit from a thread holding the GIL, into a runtime full of
    # Python tasks that need the GIL to finish: it must wait with the GIL
    # released (holding it would deadlock), and admit once they finish.
    paths = []
    for i in range(12):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(bytes([i]) * 4096)
        paths.append(str(p))
    proc = python_script(
        f"""
        import threading, time, zlib
        import dftracer.utils as dft
        import dftracer_native_example as ext

        rt = dft.Runtime(threads=2, io_threads=2, max_pending=3)
        gate = threading.Event()
        held = [rt.submit(gate.wait, 30) for _ in range(3)]
        threading.Timer(0.3, gate.set).start()
        t0 = time.monotonic()
        handles = ext.checksum_files(rt, {paths!r})   # waits for room, GIL released
        waited = time.monotonic() - t0
        crcs = [rt.submit(h).get(timeout=30) for h in handles]
        assert crcs == [zlib.crc32(open(p, "rb").read()) for p in {paths!r}], crcs
        assert all(h.get(timeout=30) for h in held)
        print("waited", round(waited, 2), "peak ok", flush=True)
        rt.shutdown()
        """,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    waited = float(proc.stdout.split()[1])
    assert waited >= 0.25  # it did wait for the Python tasks to finish


def test_native_submissions_count_towards_the_bound(python_script, tmp_path, native_ext):
    paths = []
    for i in range(40):
        p = tmp_path / f"g{i}.bin"
        p.write_bytes(b"x" * (1 << 16))
        paths.append(str(p))
    proc = python_script(
        f"""
        import threading
        import dftracer.utils as dft
        import dftracer_native_example as ext

        rt = dft.Runtime(threads=2, io_threads=2, max_pending=4)
        peak = [0]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], rt.pending)

        w = threading.Thread(target=watch)
        w.start()
        handles = ext.checksum_files(rt, {paths!r})
        for h in handles:
            rt.submit(h).get(timeout=30)
        stop.set()
        w.join()
        assert 1 <= peak[0] <= 4, peak
        print("ok", flush=True)
        rt.shutdown()
        """,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
