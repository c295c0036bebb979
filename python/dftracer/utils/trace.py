"""The runtime's own timeline, in the DFTracer ``.pfw`` form.

``Runtime(trace="run.pfw.gz")``, ``DFTRACER_UTILS_TRACE=run.pfw.gz`` or
``rt.start_trace(path)`` / ``rt.stop_trace()`` write one Chrome Trace Event
per line (``,`` lines between them, so the whole file is also one JSON
array): an ``"X"`` event per task (``cat`` python / native / io, ``tid``
the worker that ran it, ``ts``/``dur`` in microseconds, ``args`` with the
task id, parent id, queued time, final state and error type), a counter
track ``"tasks"`` (queued, running, blocked workers) and instant events for
the watchdog's actions. The file opens in Perfetto and chrome://tracing,
and DFTracer's tools read it; ``python -m dftracer.utils timeline`` draws it.

Example::

    with Runtime(trace="run.pfw.gz") as rt:
        rt.map(work, items)
    events = list(read_trace("run.pfw.gz"))

Recording costs one buffer write per task on the thread that finished it;
a background thread formats and writes (docs/tracing.md).
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, TypedDict, Union

__all__ = ["TraceSummary", "read_trace", "trace_path_from_environment"]

PathLike = Union[str, "os.PathLike[str]"]

ENV_VAR = "DFTRACER_UTILS_TRACE"


class TraceSummary(TypedDict):
    """What :meth:`Runtime.stop_trace` reports."""

    path: str
    events: int  # lines written, metadata included
    dropped: int  # records lost (no memory, or after a write error)
    error: Optional[str]  # the write error that stopped tracing, if any


_env_lock = threading.Lock()
_env_uses = 0


def trace_path_from_environment() -> Optional[str]:
    """The path ``DFTRACER_UTILS_TRACE`` names for the next runtime, or None.

    ``{pid}`` in it becomes the process id. The first runtime of a process
    traces to the path as given; each later one to the path with ``-2``,
    ``-3``, ... before its extension, so that runtimes do not overwrite each
    other's timeline.
    """
    global _env_uses
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    path = raw.replace("{pid}", str(os.getpid()))
    with _env_lock:
        _env_uses += 1
        n = _env_uses
    if n == 1:
        return path
    p = Path(path)
    name = p.name
    stem, dot, ext = name.partition(".")
    return str(p.with_name(f"{stem}-{n}{dot}{ext}"))


def read_trace(path: PathLike) -> Iterator[Dict[str, Any]]:
    """The events of a ``.pfw`` or ``.pfw.gz`` file, in file order (the
    ``[``, ``,`` and ``]`` framing lines skipped). A file cut short (a crash) reads
    up to its last whole line."""
    p = os.fspath(path)
    opener: Any = gzip.open if p.endswith(".gz") else open
    with opener(p, "rt", encoding="utf-8") as f:
        try:
            for line in f:
                line = line.strip()
                if len(line) < 2:
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    return  # a last line cut short
        except EOFError:  # a gzip stream cut short
            return
