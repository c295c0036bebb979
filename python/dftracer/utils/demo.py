"""The demo job: index a folder of trace files in parallel.

Generates synthetic DFTracer-style traces (gzip-compressed JSON lines, one
event per line) and indexes each file: event counts by category, bytes
moved, and the time span covered. Reading and decompressing run on the I/O
pool, parsing on the compute workers; the same work then runs on
``concurrent.futures.ThreadPoolExecutor`` for comparison.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import time
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from dftracer.utils.runtime import Runtime
from dftracer.utils.task_handle import TaskHandle

__all__ = ["FileIndex", "generate_traces", "index_file_bytes", "read_trace", "run_with_runtime", "run_with_thread_pool"]

logger = logging.getLogger(__name__)

_CATEGORIES = {
    "POSIX": ["open64", "read", "write", "lseek64", "close", "stat64"],
    "STDIO": ["fopen", "fread", "fwrite", "fclose"],
    "app": ["load_batch", "train_step", "checkpoint"],
    "dftracer": ["metadata"],
}


@dataclass
class FileIndex:
    """What indexing one trace file yields."""

    path: str
    events: int = 0
    by_category: Dict[str, int] = field(default_factory=dict)
    bytes_moved: int = 0
    first_ts: int = 0
    last_ts: int = 0
    compressed_bytes: int = 0

    @property
    def span_us(self) -> int:
        return self.last_ts - self.first_ts


def generate_traces(folder: Path, files: int, events_per_file: int, seed: int = 7) -> List[Path]:
    """Writes ``files`` synthetic trace files into ``folder``; returns their paths."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    categories = list(_CATEGORIES)
    weights = [6, 2, 1, 0.1]
    for f in range(files):
        path = folder / f"trace-{f:04d}.pfw.gz"
        ts = rng.randrange(10**6)
        pid = 1000 + f
        lines = ["["]
        for i in range(events_per_file):
            cat = rng.choices(categories, weights)[0]
            name = rng.choice(_CATEGORIES[cat])
            dur = rng.randrange(1, 500)
            event = {
                "id": i,
                "name": name,
                "cat": cat,
                "pid": pid,
                "tid": pid + rng.randrange(4),
                "ts": ts,
                "dur": dur,
                "ph": "X",
            }
            if name in ("read", "write", "fread", "fwrite"):
                event["args"] = {"size": rng.randrange(1, 1 << 20), "fname": f"/data/shard-{rng.randrange(64)}.bin"}
            lines.append(json.dumps(event, separators=(",", ":")))
            ts += dur + rng.randrange(0, 50)
        lines.append("]")
        with gzip.open(path, "wt", compresslevel=6) as out:
            out.write("\n".join(lines))
        paths.append(path)
    return paths


def read_trace(path: Path) -> bytes:
    """I/O step: reads and decompresses one file (zlib releases the GIL)."""
    raw = path.read_bytes()
    return zlib.decompress(raw, wbits=31)


def index_file_bytes(path: Path, data: bytes, compressed_bytes: int = 0) -> FileIndex:
    """Compute step: parses the JSON lines of one decompressed file."""
    index = FileIndex(path=str(path), compressed_bytes=compressed_bytes)
    counts: Counter[str] = Counter()
    first = None
    last = 0
    moved = 0
    loads = json.loads
    for line in data.splitlines():
        if len(line) < 2:  # the "[" and "]" framing lines
            continue
        event = loads(line)
        counts[event["cat"]] += 1
        ts = event["ts"]
        if first is None or ts < first:
            first = ts
        end = ts + event.get("dur", 0)
        if end > last:
            last = end
        args = event.get("args")
        if args:
            moved += args.get("size", 0)
    index.events = sum(counts.values())
    index.by_category = dict(counts)
    index.bytes_moved = moved
    index.first_ts = first or 0
    index.last_ts = last
    return index


def _parse_after_read(path: Path, raw: "TaskHandle[bytes]") -> FileIndex:
    # The compose pattern: the parse task receives the read task's handle.
    return index_file_bytes(path, raw.get(), path.stat().st_size)


def run_with_runtime(
    rt: Runtime, paths: List[Path], on_progress: Optional[Callable[[Runtime, int], None]] = None
) -> List[FileIndex]:
    """Indexes ``paths`` on ``rt``: read on the I/O pool, parse on compute workers."""
    handles = []
    for path in paths:
        raw = rt.submit_io(read_trace, path, name=f"read:{path.name}")
        handles.append(rt.submit(_parse_after_read, path, raw, name=f"index:{path.name}"))
    if on_progress is not None:
        while not all(h.done() for h in handles):
            on_progress(rt, sum(h.done() for h in handles))
            time.sleep(0.1)
        on_progress(rt, len(handles))
    rt.wait_all(raise_on_error=True)
    return [h.get() for h in handles]


def run_with_thread_pool(threads: int, paths: List[Path]) -> List[FileIndex]:
    """The same work on ``ThreadPoolExecutor`` (one task per file)."""

    def one(path: Path) -> FileIndex:
        return index_file_bytes(path, read_trace(path), path.stat().st_size)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, paths))
