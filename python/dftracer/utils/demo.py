"""The demo job: index DFTracer trace files, written the natural way for
each runner (``python -m dftracer.utils demo``; ``scripts/run.sh``).

On the runtime, each file is an I/O-pool task (read and decompress) whose
handle is given to an index task on the compute pool; the index task cuts
the file into chunks, submits one parse task per chunk and waits for them:
tasks that submit tasks and wait on them, which a fixed thread pool cannot
do without deadlocking (:func:`nested_on_one_thread_pool` shows it) and
which ``concurrent.futures`` users therefore split over two pools
(:func:`index_with_thread_pools`). The printed report is in
:mod:`dftracer.utils.demo_report`.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Set, Tuple

from dftracer.utils.demo_traces import ChunkIndex, FileIndex, merge_chunks, parse_chunk, read_trace, split_chunks
from dftracer.utils.mapping import MapIterator
from dftracer.utils.runtime import Runtime
from dftracer.utils.task_handle import TaskHandle

__all__ = [
    "Timeline",
    "index_file",
    "index_with_runtime",
    "index_with_thread_pools",
    "nested_on_one_thread_pool",
]


@dataclass
class Timeline:
    """When each read and each parse ran (perf_counter seconds), recorded by
    the tasks themselves: the demo's own measure of how much I/O overlapped
    parsing. (The runtime's trace, docs/tracing.md, records every task.)"""

    reads: List[Tuple[float, float]] = field(default_factory=list)
    parses: List[Tuple[float, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, start: float) -> None:
        with self._lock:
            (self.reads if kind == "read" else self.parses).append((start, time.perf_counter()))

    def io_seconds(self) -> float:
        """Wall time during which at least one read ran."""
        return _length(_union(self.reads))

    def io_overlapping_parse_seconds(self) -> float:
        """Wall time during which a read and a parse both ran."""
        reads, parses = _union(self.reads), _union(self.parses)
        total, j = 0.0, 0
        for a0, a1 in reads:
            while j < len(parses) and parses[j][1] <= a0:
                j += 1
            k = j
            while k < len(parses) and parses[k][0] < a1:
                total += max(0.0, min(a1, parses[k][1]) - max(a0, parses[k][0]))
                k += 1
        return total


def _union(spans: List[Tuple[float, float]]) -> List[Tuple[float, float]]:
    out: List[Tuple[float, float]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _length(spans: List[Tuple[float, float]]) -> float:
    return sum(e - s for s, e in spans)


def _timed_read(timeline: Optional[Timeline], path: Path, stalled: Set[str]) -> bytes:
    start = time.perf_counter()
    data = read_trace(path, stalled)
    if timeline is not None:  # reads that finished: a stalled one never does
        timeline.add("read", start)
    return data


def _timed_parse(timeline: Optional[Timeline], lines: List[bytes], first_line: int) -> ChunkIndex:
    start = time.perf_counter()
    try:
        return parse_chunk(lines, first_line)
    finally:
        if timeline is not None:
            timeline.add("parse", start)


# -- on the runtime --------------------------------------------------------


def index_file(
    rt: Runtime, path: Path, data: "TaskHandle[bytes]", lines_per_chunk: int, timeline: Optional[Timeline] = None
) -> FileIndex:
    """An index task: waits for its file's read, submits a parse task per
    chunk and waits for them. Waiting inside a task never deadlocks the
    pool: a waiting worker runs a still-queued chunk itself, or the pool
    adds a worker while it waits (docs/design.md, *The life of a task*)."""
    chunks = split_chunks(data.get(), lines_per_chunk)
    parts = [
        rt.submit(_timed_parse, timeline, lines, i * lines_per_chunk, name=f"parse:{path.name}#{i}")
        for i, lines in enumerate(chunks)
    ]
    return merge_chunks(path.name, (p.get() for p in parts))


def index_with_runtime(
    rt: Runtime,
    paths: Iterable[Path],
    lines_per_chunk: int,
    stalled: Iterable[str] = (),
    timeline: Optional[Timeline] = None,
) -> "MapIterator[TaskHandle[FileIndex]]":
    """Indexes ``paths``; yields each file's index task handle as it finishes.

    Every read is submitted at once to the I/O pool, so reading runs ahead
    of parsing and overlaps it; :meth:`Runtime.map` keeps one index task per
    compute worker in flight, plus one (each waits for its chunks: a few in
    flight keep the workers busy, and none waits long)."""
    stalled = set(stalled)
    reads = {path: rt.submit_io(_timed_read, timeline, path, stalled, name=f"read:{path.name}") for path in paths}

    def index(path: Path) -> FileIndex:
        return index_file(rt, path, reads[path], lines_per_chunk, timeline)

    return rt.map(
        index,
        list(reads),
        buffersize=rt.threads + 1,
        ordered=False,
        return_handles=True,
        name=lambda p: f"index:{p.name}",
    )


# -- on concurrent.futures --------------------------------------------------


def _index_file_on(
    chunk_pool: ThreadPoolExecutor, path: Path, lines_per_chunk: int, stalled: Set[str], wait_s: Optional[float]
) -> FileIndex:
    # The natural ThreadPoolExecutor code: read, submit the chunks, wait.
    chunks = split_chunks(read_trace(path, stalled), lines_per_chunk)
    parts = [chunk_pool.submit(parse_chunk, lines, i * lines_per_chunk) for i, lines in enumerate(chunks)]
    return merge_chunks(path.name, (p.result(timeout=wait_s) for p in parts))


def nested_on_one_thread_pool(threads: int, paths: List[Path], lines_per_chunk: int, wait_s: float) -> bool:
    """The runtime's nested code on one ``ThreadPoolExecutor``: the file
    tasks take every worker and wait for chunk tasks queued behind the
    other files. Returns True when it deadlocked, found by the file task's
    ``result(timeout=wait_s)`` (without one it would wait forever)."""
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        futures = [pool.submit(_index_file_on, pool, p, lines_per_chunk, set(), wait_s) for p in paths]
        try:
            futures[0].result()
        except FutureTimeout:  # the builtin TimeoutError from Python 3.11 on
            return True
        return False
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def index_with_thread_pools(
    threads: int, paths: List[Path], lines_per_chunk: int, stalled: Iterable[str] = ()
) -> List["Future[FileIndex]"]:
    """The usual fix on ``concurrent.futures``: one pool for the files,
    another for the chunks (2 x ``threads`` threads). Returns when every
    file is done."""
    stalled = set(stalled)
    with ThreadPoolExecutor(max_workers=threads) as files, ThreadPoolExecutor(max_workers=threads) as chunks:
        futures = [files.submit(_index_file_on, chunks, p, lines_per_chunk, stalled, None) for p in paths]
        for f in futures:
            f.exception()
    return futures
