"""The demo's data and its per-chunk work, shared by every runner.

Synthetic DFTracer traces: ``.pfw.gz`` files holding one JSON event per
line inside ``[`` ... ``]`` framing lines, as DFTracer writes them. Indexing
a file means decompressing it, cutting its lines into chunks, parsing each
chunk (``json.loads`` per line: pure Python, it holds the GIL) and merging
the chunks' summaries into the file's :class:`FileIndex`.

Two files are made bad on purpose (see :func:`generate_traces`): one has a
line that is not JSON (its parse fails), one sits on "stalled storage"
(:func:`read_trace` never finishes it, so the runner's timeout must end it).
"""

from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

__all__ = [
    "ChunkIndex",
    "FileIndex",
    "TraceSet",
    "generate_traces",
    "merge_chunks",
    "parse_chunk",
    "read_trace",
    "split_chunks",
]

_CATEGORIES = {
    "POSIX": ["open64", "read", "write", "lseek64", "close", "stat64"],
    "STDIO": ["fopen", "fread", "fwrite", "fclose"],
    "app": ["load_batch", "train_step", "checkpoint"],
}
_WEIGHTS = [6.0, 2.0, 1.0]
_SIZED = {"read", "write", "fread", "fwrite"}
# How long the simulated stalled storage sleeps between looks (seconds).
_STALL_STEP = 0.05
# A stalled read gives up on its own after this long, should nothing stop it.
_STALL_CAP = 60.0


@dataclass
class ChunkIndex:
    """The summary of one chunk of lines."""

    events: int = 0
    by_category: Dict[str, int] = field(default_factory=dict)
    io_bytes: int = 0  # sum of the "size" args of read/write events
    first_ts: Optional[int] = None
    last_end: int = 0


@dataclass
class FileIndex:
    """The summary of one trace file: its chunks merged."""

    name: str
    events: int = 0
    by_category: Dict[str, int] = field(default_factory=dict)
    io_bytes: int = 0
    first_ts: int = 0
    last_end: int = 0
    chunks: int = 0

    @property
    def span_s(self) -> float:
        """Seconds of the traced program's run this file covers."""
        return (self.last_end - self.first_ts) / 1e6


@dataclass
class TraceSet:
    """What :func:`generate_traces` wrote."""

    paths: List[Path]
    events: int  # good events written, over all files
    compressed_bytes: int
    json_bytes: int  # the decompressed size
    corrupt: str  # name of the file with a line that is not JSON
    stalled: Set[str]  # names of the files on stalled storage


def generate_traces(folder: Path, files: int, events_per_file: int, seed: int = 7) -> TraceSet:
    """Writes ``files`` good trace files plus one corrupt and one stalled
    file into ``folder`` (deterministic for a given ``seed``)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths: List[Path] = []
    events = 0
    compressed = 0
    raw_total = 0
    categories = list(_CATEGORIES)
    names = [f"trace-{f:04d}.pfw.gz" for f in range(files)] + ["corrupt-0000.pfw.gz", "stalled-0000.pfw.gz"]
    for f, fname in enumerate(names):
        pid = 1000 + f
        ts = rng.randrange(10**6)
        lines = ["["]
        for i in range(events_per_file):
            cat = rng.choices(categories, _WEIGHTS)[0]
            name = rng.choice(_CATEGORIES[cat])
            dur = rng.randrange(1, 500)
            args = ""
            if name in _SIZED:
                args = f',"args":{{"size":{rng.randrange(1, 1 << 16)},"fname":"/data/shard-{rng.randrange(64)}.bin"}}'
            lines.append(
                f'{{"id":{i},"name":"{name}","cat":"{cat}","pid":{pid},"tid":{pid + rng.randrange(4)},'
                f'"ts":{ts},"dur":{dur},"ph":"X"{args}}}'
            )
            ts += dur + rng.randrange(0, 50)
        if fname.startswith("corrupt"):
            lines[len(lines) // 2] = '{"id":"truncated by a crash'
        elif not fname.startswith("stalled"):
            events += events_per_file
        lines.append("]")
        raw = "\n".join(lines).encode()
        path = folder / fname
        packed = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member
        path.write_bytes(packed.compress(raw) + packed.flush())
        compressed += path.stat().st_size
        raw_total += len(raw)
        paths.append(path)
    return TraceSet(paths, events, compressed, raw_total, names[-2], {names[-1]})


def read_trace(path: Path, stalled: Iterable[str] = ()) -> bytes:
    """The I/O step: reads and decompresses one file (both release the GIL).

    A file named in ``stalled`` simulates storage that stopped answering:
    the read sleeps in short steps and never returns its data, so only a
    timeout (or a cancel) ends it; it gives up by itself after a minute."""
    if path.name in stalled:
        deadline = time.monotonic() + _STALL_CAP
        while time.monotonic() < deadline:
            time.sleep(_STALL_STEP)  # a timeout raises at the next bytecode
        raise OSError(f"{path.name}: storage did not answer in {_STALL_CAP:.0f} s")
    return zlib.decompress(path.read_bytes(), wbits=31)


def split_chunks(data: bytes, lines_per_chunk: int) -> List[List[bytes]]:
    """The file's event lines (framing lines dropped), ``lines_per_chunk`` a chunk."""
    lines = [line for line in data.split(b"\n") if len(line) > 1]
    return [lines[i : i + lines_per_chunk] for i in range(0, len(lines), lines_per_chunk)]


def parse_chunk(lines: List[bytes], first_line: int = 0) -> ChunkIndex:
    """The compute step: parses one chunk (pure Python: holds the GIL).

    Raises:
        ValueError: a line is not JSON; the message names its line number
            (``first_line`` is the chunk's first line in its file).
    """
    import json

    out = ChunkIndex()
    counts: Dict[str, int] = {}
    first: Optional[int] = None
    last = 0
    io_bytes = 0
    loads = json.loads
    for n, line in enumerate(lines):
        try:
            event = loads(line)
        except ValueError as e:
            raise ValueError(f"line {first_line + n + 2}: not JSON ({e})") from None  # +2: 1-based, after "["
        cat = event["cat"]
        counts[cat] = counts.get(cat, 0) + 1
        ts = event["ts"]
        if first is None or ts < first:
            first = ts
        end = ts + event.get("dur", 0)
        if end > last:
            last = end
        args = event.get("args")
        if args:
            io_bytes += args.get("size", 0)
    out.events = len(lines)
    out.by_category = counts
    out.io_bytes = io_bytes
    out.first_ts = first
    out.last_end = last
    return out


def merge_chunks(name: str, chunks: Iterable[ChunkIndex]) -> FileIndex:
    """One file's index from its chunks' summaries."""
    index = FileIndex(name=name)
    firsts = []
    for c in chunks:
        index.chunks += 1
        index.events += c.events
        index.io_bytes += c.io_bytes
        for cat, n in c.by_category.items():
            index.by_category[cat] = index.by_category.get(cat, 0) + n
        if c.first_ts is not None:
            firsts.append(c.first_ts)
        index.last_end = max(index.last_end, c.last_end)
    index.first_ts = min(firsts, default=0)
    return index
