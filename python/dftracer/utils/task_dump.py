"""Task dumps: where every running task is, and what it waits on.

:meth:`dftracer.utils.Runtime.dump_tasks` returns one :class:`TaskDump` per
running task: its name and id, the worker running it, for how long, what it
waits on (another task, the GIL, or nothing visible) and, for a Python task,
the stack of the thread running it (innermost frame last). The watchdog logs
a bounded dump when it sees a stall or starvation, and with each long-task
report; :func:`install_dump_signal_handler` logs one on ``SIGUSR1``.

Example::

    with Runtime() as rt:
        h = rt.submit(time.sleep, 5)
        for task in rt.dump_tasks():
            print(task["name"], task["worker"], task["waits_on"])
        print(format_task_dump(rt.dump_tasks()))

The stacks come from ``sys._current_frames()``: the dump reads them while
the tasks run, without stopping anyone (see docs/tracing.md).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback
import weakref
from types import FrameType
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, TypedDict

if TYPE_CHECKING:
    from dftracer.utils.runtime import Runtime

__all__ = ["StackFrame", "TaskDump", "format_task_dump", "install_dump_signal_handler", "collect_task_dump"]

logger = logging.getLogger("dftracer.utils")

#: What the watchdog's log and the signal handler show at most.
MAX_TASKS = 20
MAX_FRAMES = 12
MAX_CHARS = 16000


class StackFrame(TypedDict):
    """One frame of a task's Python stack."""

    function: str
    file: str
    line: int
    code: str  # the source line, "" when unknown


class TaskDump(TypedDict):
    """One running task as :meth:`Runtime.dump_tasks` shows it."""

    task_id: int
    name: str
    state: str  # "running"
    kind: str  # "python", "native" or "io"
    worker: Optional[str]  # "compute worker 2", "io worker 0", "caller 1"; None: on no thread now
    temporary_worker: bool
    running_s: float  # since its body started
    blocked: bool  # its thread blocks in a wait
    waiting_on: Optional[int]  # the task id it waits for, when visible
    waits_on: str  # in words: "task 12 'load'", "the GIL ...", "nothing visible"
    thread_ident: Optional[int]  # the Python thread running its callable
    inline_task_id: Optional[int]  # a task running inline inside this one's wait, on its thread
    stack: List[StackFrame]  # innermost last; [] for native tasks


def _stack_of(frame: Optional[FrameType]) -> List[StackFrame]:
    if frame is None:
        return []
    return [
        StackFrame(function=f.name, file=f.filename, line=f.lineno or 0, code=f.line or "")
        for f in traceback.extract_stack(frame)
    ]


def collect_task_dump(entries: Sequence[Dict[str, Any]]) -> List[TaskDump]:
    """Adds stacks and the waits-on text to the engine's entries
    (``_NativeRuntime.dump_tasks()``). Frames are read once for all tasks."""
    frames = sys._current_frames()
    names = {e["task_id"]: e["name"] for e in entries}
    out: List[TaskDump] = []
    for e in entries:
        ident = e.get("thread_ident")
        frame = frames.get(ident) if ident is not None else None
        stack = _stack_of(frame)
        waiting_on = e.get("waiting_on")
        inline = e.get("inline_task_id")
        if waiting_on is not None:
            label = f" '{names[waiting_on]}'" if waiting_on in names else ""
            waits = f"task {waiting_on}{label}"
        elif inline is not None:
            waits = f"task {inline} (running inline on its thread, inside this task's wait)"
        elif e["kind"] != "native" and e.get("worker") and not stack:
            # On a worker but not inside its call yet (or any more): taking the GIL.
            waits = "the GIL (or a python_threads permit)"
        elif e.get("blocked"):
            waits = "a wait (not on a task)"
        else:
            waits = "nothing visible"
        out.append(
            TaskDump(
                task_id=e["task_id"],
                name=e["name"],
                state=e["state"],
                kind=e["kind"],
                worker=e.get("worker"),
                temporary_worker=bool(e.get("temporary_worker")),
                running_s=float(e["running_s"]),
                blocked=bool(e.get("blocked")),
                waiting_on=waiting_on,
                waits_on=waits,
                thread_ident=ident,
                inline_task_id=inline,
                stack=stack,
            )
        )
    return out


def format_task_dump(
    dump: Sequence[TaskDump], max_tasks: int = MAX_TASKS, max_frames: int = MAX_FRAMES, max_chars: int = MAX_CHARS
) -> str:
    """The dump as text, bounded: the ``max_tasks`` longest-running tasks,
    the innermost ``max_frames`` frames of each, at most ``max_chars``
    characters in all."""
    if not dump:
        return "task dump: no task is running"
    lines = [f"task dump: {len(dump)} running task(s), longest first"]
    for t in list(dump)[:max_tasks]:
        where = t["worker"] or "no thread now"
        if t["temporary_worker"]:
            where += " (temporary)"
        lines.append(
            f"  task {t['task_id']} '{t['name']}' ({t['kind']}) on {where}, running {t['running_s']:.1f} s, "
            f"waits on {t['waits_on']}"
        )
        stack = t["stack"]
        if len(stack) > max_frames:
            lines.append(f"      ... {len(stack) - max_frames} outer frame(s)")
            stack = stack[-max_frames:]
        for f in stack:
            lines.append(f"      {f['file']}:{f['line']} in {f['function']}" + (f": {f['code']}" if f["code"] else ""))
    if len(dump) > max_tasks:
        lines.append(f"  ... and {len(dump) - max_tasks} more")
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = text[: max_chars - 20] + "\n  ... (cut)"
    return text


def _watchdog_dump_text(entries: Sequence[Dict[str, Any]]) -> str:
    """Called by the engine's watchdog logging (on its callback thread)."""
    return format_task_dump(collect_task_dump(entries))


_signal_runtimes: "weakref.WeakSet[Runtime]" = weakref.WeakSet()
_signal_lock = threading.Lock()
_installed: Dict[int, Any] = {}


def install_dump_signal_handler(runtime: Optional["Runtime"] = None, signum: int = signal.SIGUSR1) -> None:
    """Opt-in: on ``signum`` (``SIGUSR1``), log a task dump of ``runtime``
    (or of every live runtime of this process) on the ``dftracer.utils``
    logger, as ``kill -USR1 <pid>`` from a shell. Installs once per signal
    (later calls add runtimes); call it from the main thread (Python runs
    signal handlers there, between bytecodes or inside our waits).

    Example::

        rt = Runtime()
        install_dump_signal_handler(rt)
    """
    with _signal_lock:
        if runtime is not None:
            _signal_runtimes.add(runtime)
        if signum in _installed:
            return
        _installed[signum] = signal.signal(signum, _on_dump_signal)


def _on_dump_signal(signum: int, frame: Optional[FrameType]) -> None:
    from dftracer.utils import _lifecycle

    runtimes = list(_signal_runtimes) or _lifecycle.live_runtimes()
    for rt in runtimes:
        try:
            logger.warning("%r on signal %d:\n%s", rt, signum, format_task_dump(rt.dump_tasks()))
        except RuntimeError:  # shut down, or inherited through fork
            continue
