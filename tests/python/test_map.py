"""Runtime.map: lazy and bounded, ordered or in completion order, errors at
their item, early close cancels what has not started, named items, chunks,
and flat memory over millions of items."""

from __future__ import annotations

import gc
import itertools
import os
import threading
import time
from typing import Iterator, List

import pytest

import dftracer.utils as dft

# scripts/sanitize.sh python sets this: the extension is ASan-built, and ASan
# keeps freed memory in quarantine, so RSS says nothing about our memory use.
skip_memory_under_asan = pytest.mark.skipif(
    os.environ.get("DFTRACER_UNDER_ASAN") == "1", reason="ASan's quarantine keeps freed memory resident"
)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def double(x: int) -> int:
    return 2 * x


class Pulled:
    """An input generator that counts how many items were taken from it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pulled = 0

    def __iter__(self) -> Iterator[int]:
        for i in range(self.n):
            self.pulled += 1
            yield i


def test_map_yields_results_in_input_order(rt):
    def jittery(x):
        time.sleep(0.0005 * ((x * 7) % 5))  # finish out of order
        return x * x

    assert list(rt.map(jittery, range(200), buffersize=16)) == [x * x for x in range(200)]


def test_map_zips_several_iterables_and_stops_at_the_shortest(rt):
    assert list(rt.map(pow, [2, 3, 4], [5, 2, 1, 99])) == [32, 9, 4]
    assert list(rt.map(lambda a, b, c: a + b + c, "ab", "cd", "ef")) == ["ace", "bdf"]
    assert list(rt.map(double, [])) == []


def test_map_reads_its_input_lazily_with_at_most_buffersize_in_flight(rt):
    source = Pulled(1000)
    received = 0
    for _ in rt.map(double, source, buffersize=8):
        received += 1
        # Taken from the input but not yet handed out: at most buffersize.
        assert source.pulled - received <= 8
    assert received == 1000 and source.pulled == 1000


def test_map_over_an_endless_generator_stops_when_the_consumer_does(rt):
    results = []
    for r in rt.map(double, itertools.count(), buffersize=4):
        results.append(r)
        if len(results) == 50:
            break
    assert results == [2 * i for i in range(50)]


def test_map_unordered_yields_in_completion_order(rt):
    gate = threading.Event()

    def work(x):
        if x == 0:
            assert gate.wait(30)
        return x

    out = []
    for r in rt.map(work, range(4), ordered=False, buffersize=4):
        out.append(r)
        if len(out) == 3:
            gate.set()  # item 0 can finish only after the other three came out
    assert sorted(out[:3]) == [1, 2, 3] and out[3] == 0


def test_map_raises_the_items_own_exception_at_its_position(rt):
    raised: List[BaseException] = []

    def fragile(x):
        if x == 3:
            err = ValueError(f"bad item {x}")
            raised.append(err)
            raise err
        return x

    got = []
    with pytest.raises(ValueError) as info:
        for r in rt.map(fragile, range(10), buffersize=4, name=lambda x: f"item-{x}"):
            got.append(r)
    assert got == [0, 1, 2]  # everything before it, in order
    assert info.value is raised[0]  # the very object, with its traceback
    assert any("fragile" in str(frame) for frame in __import__("traceback").extract_tb(info.value.__traceback__))
    notes = getattr(info.value, "__notes__", [])
    assert any("item 3" in n and "item-3" in n for n in notes), notes


def test_map_unordered_raises_when_the_failed_item_comes_out(rt):
    def fragile(x):
        if x == 5:
            raise KeyError(x)
        return x

    got = []
    with pytest.raises(KeyError) as info:
        for r in rt.map(fragile, range(20), ordered=False, buffersize=4):
            got.append(r)
    assert 5 not in got and len(got) < 20
    assert any("item 5" in n for n in getattr(info.value, "__notes__", []))


def test_map_return_handles_yields_finished_handles_and_never_raises(rt):
    def fragile(x):
        if x % 4 == 0:
            raise RuntimeError(f"no {x}")
        return x

    handles = list(rt.map(fragile, range(12), return_handles=True, name=lambda x: f"f{x}"))
    assert [h.name for h in handles] == [f"f{x}" for x in range(12)]
    assert all(h.done() for h in handles)
    assert [h.exception is not None for h in handles] == [x % 4 == 0 for x in range(12)]
    unordered = list(rt.map(fragile, range(12), ordered=False, return_handles=True))
    assert sorted(h.get() for h in unordered if h.exception is None) == [x for x in range(12) if x % 4]


def test_map_chunks_give_per_item_results(rt):
    assert list(rt.map(double, range(1000), chunksize=64)) == [2 * x for x in range(1000)]
    assert sorted(rt.map(double, range(1000), chunksize=64, ordered=False)) == [2 * x for x in range(1000)]
    assert list(rt.map(pow, [2] * 10, range(10), chunksize=3)) == [2**x for x in range(10)]
    # Fewer tasks than items.
    before = rt.get_progress()["total"]
    list(rt.map(double, range(1000), chunksize=100))
    assert rt.get_progress()["total"] - before == 10


def test_map_chunk_raises_at_the_failing_item_after_the_items_before_it(rt):
    def fragile(x):
        if x == 13:
            raise ValueError("thirteen")
        return x

    got = []
    with pytest.raises(ValueError, match="thirteen") as info:
        for r in rt.map(fragile, range(40), chunksize=5):
            got.append(r)
    assert got == list(range(13))
    assert any("item 13" in n for n in getattr(info.value, "__notes__", []))


def test_map_names_tasks_so_progress_shows_the_item(rt):
    seen = []

    def parse(path):
        # What get_progress() shows for the worker running this task, or for
        # the thread that waits for it and runs it itself (caller runs).
        p = rt.get_progress()
        seen.append((path, [w["task"] for w in [*p["workers"], *p["callers"]] if w["task"]]))
        return len(path)

    paths = [f"/data/file-{i}.json" for i in range(6)]
    assert list(rt.map(parse, paths, name=lambda p: f"parse:{p}")) == [len(p) for p in paths]
    assert len(seen) == 6
    for path, running in seen:
        assert f"parse:{path}" in running
    handles = list(rt.map(parse, paths, name="parsing", return_handles=True))
    assert {h.name for h in handles} == {"parsing"}
    assert {h.name for h in rt.map(double, [1, 2], return_handles=True)} == {double.__module__ + ".double"}


def test_map_chunk_task_is_named_after_its_first_item(rt):
    names: List[str] = []

    def record(x):
        p = rt.get_progress()
        # A chunk runs on a worker, or on the thread that waits for it (caller runs).
        names.extend(w["task"] for w in [*p["workers"], *p["callers"]] if w["task"])
        return x

    list(rt.map(record, range(6), chunksize=3, name=lambda x: f"item-{x}"))
    assert "item-0 (+2 more)" in names and "item-3 (+2 more)" in names


def test_map_closing_early_cancels_unstarted_and_waits_for_nothing(wait_until):
    with dft.Runtime(threads=2, io_threads=1) as rt:
        release = threading.Event()
        lock = threading.Lock()
        starts: List[int] = []
        source = Pulled(10_000)

        def work(x):
            with lock:
                order = len(starts)
                starts.append(x)
            if order == 1:  # blocks, not cooperative: close() must not wait for it
                assert release.wait(30)
            elif order > 1:  # cooperative: runs until asked to stop
                while not dft.cancelled():
                    time.sleep(0.001)
            return x  # the first to start returns at once

        cancelled_before = rt.get_progress()["cancelled"]
        results = rt.map(work, source, ordered=False, buffersize=32)
        assert next(results) == starts[0]
        pulled = source.pulled
        results.close()
        # close() returned while a task still runs, and read nothing more.
        assert not release.is_set() and rt.get_progress()["running"] >= 1
        assert source.pulled == pulled
        assert rt.get_progress()["cancelled"] - cancelled_before >= 32 - 3
        # The cooperative one stopped; only the blocked one is left running.
        assert wait_until(lambda: rt.get_progress()["running"] == 1 and rt.get_progress()["queued"] == 0)
        release.set()
        assert wait_until(lambda: rt.get_progress()["running"] == 0)
        assert len(starts) <= 3
        with pytest.raises(StopIteration):
            next(results)


def test_breaking_out_of_a_for_loop_cancels_what_has_not_started(rt1, wait_until):
    gate = threading.Event()

    def work(x):
        if x == 1:
            assert gate.wait(30)
        return x

    cancelled_before = rt1.get_progress()["cancelled"]
    for r in rt1.map(work, range(1000), buffersize=50):
        assert r == 0
        break
    # The map was dropped with the loop: its queued tasks (2..50) were
    # cancelled while item 1 held the only worker.
    cancelled = rt1.get_progress()["cancelled"] - cancelled_before
    gate.set()
    assert cancelled >= 45
    assert wait_until(lambda: rt1.get_progress()["queued"] == 0 and rt1.get_progress()["running"] == 0)


def test_map_as_a_context_manager_closes_on_exit(rt):
    source = Pulled(1000)
    with rt.map(double, source, buffersize=10) as results:
        assert next(results) == 0
    assert source.pulled <= 12
    with pytest.raises(StopIteration):
        next(results)
    assert source.pulled <= 12


def test_map_inside_a_task_on_one_thread_does_not_deadlock(rt1):
    def outer(n, ordered):
        return sum(rt1.map(double, range(n), buffersize=8, ordered=ordered))

    assert rt1.submit(outer, 200, True).get(timeout=60) == 2 * sum(range(200))
    assert rt1.submit(outer, 200, False).get(timeout=60) == 2 * sum(range(200))


def test_an_error_in_the_input_iterator_propagates_and_cancels_the_rest(rt1, wait_until):
    gate = threading.Event()

    def source():
        yield 0
        yield 1
        raise OSError("disk gone")

    def work(x):
        assert gate.wait(30)
        return x

    results = rt1.map(work, source(), buffersize=1)
    gate.set()
    assert next(results) == 0
    with pytest.raises(OSError, match="disk gone"):
        list(results)
    assert wait_until(lambda: rt1.get_progress()["running"] == 0)


def test_map_validates_its_arguments(rt):
    with pytest.raises(ValueError, match="buffersize"):
        rt.map(double, [1], buffersize=0)
    with pytest.raises(ValueError, match="chunksize"):
        rt.map(double, [1], chunksize=0)
    with pytest.raises(ValueError, match="return_handles"):
        rt.map(double, [1], chunksize=2, return_handles=True)
    with pytest.raises(TypeError, match="name"):
        rt.map(double, [1], name=5)
    with pytest.raises(TypeError, match="callable"):
        rt.map(5, [1])
    with pytest.raises(TypeError, match="iterable"):
        rt.map(double)
    with pytest.raises(TypeError, match="str"):
        list(rt.map(double, [1], name=lambda x: 3))


def test_map_total_is_known_for_sized_inputs(rt):
    assert rt.map(double, [1, 2, 3]).total == 3
    assert rt.map(pow, [1, 2, 3], range(2)).total == 2
    assert rt.map(double, iter([1])).total is None


def test_map_respects_max_pending():
    with dft.Runtime(threads=2, io_threads=1, max_pending=4) as rt:
        peak = []

        def work(x):
            peak.append(rt.pending)
            return x

        assert list(rt.map(work, range(300), buffersize=64)) == list(range(300))
        assert max(peak) <= 4


def _run_map_and_measure_growth(rt, n, ordered):
    # Warm up: thread states, frame pools, allocator arenas.
    for _ in rt.map(double, (i for i in range(20_000)), buffersize=64, ordered=ordered):
        pass
    gc.collect()
    before = rss_bytes()
    count = 0
    for _ in rt.map(double, (i for i in range(n)), buffersize=64, ordered=ordered):
        count += 1
    gc.collect()
    return count, rss_bytes() - before


@skip_memory_under_asan
@pytest.mark.parametrize("ordered, n", [(True, 1_000_000), (False, 200_000)])
def test_map_over_a_long_generator_keeps_memory_flat(rt, ordered, n):
    count, growth = _run_map_and_measure_growth(rt, n, ordered)
    print(f"{n} items, ordered={ordered}: RSS growth {growth / 2**20:.1f} MiB")
    assert count == n
    assert growth < 20 * 2**20


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("DFTRACER_RUN_SLOW") != "1", reason="slow (~2 min): set DFTRACER_RUN_SLOW=1")
def test_map_over_a_10m_generator_keeps_memory_flat(rt):
    count, growth = _run_map_and_measure_growth(rt, 10_000_000, True)
    print(f"10M items: RSS growth {growth / 2**20:.1f} MiB")
    assert count == 10_000_000
    assert growth < 20 * 2**20


def test_a_chunk_asked_to_stop_raises_instead_of_coming_out_short(rt1):
    import concurrent.futures as cf

    started = threading.Event()

    def slow(x):
        started.set()
        time.sleep(0.001)
        return x

    def stop_everything():
        started.wait(30)
        time.sleep(0.05)
        rt1._native.cancel_pending()  # as shutdown(wait=False) does

    got = []
    threading.Thread(target=stop_everything).start()
    with pytest.raises(cf.CancelledError, match="stopped after") as info:
        for r in rt1.map(slow, range(5000), chunksize=1000):
            got.append(r)
    assert got == list(range(len(got))) and len(got) < 1000
    assert any(f"item {len(got)}" in n for n in getattr(info.value, "__notes__", []))
