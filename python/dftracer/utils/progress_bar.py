"""Progress bars for large jobs: ``rt.wait_all(progress=True)`` and
``dft.progress(iterable)``.

One line shows done/total, the rate, failures and what the workers are
running (from :meth:`Runtime.get_progress`)::

    parse: 41210/100000 41% 1893.2/s eta 0:00:31 failed 3 | running: parse:/data/f-41211.json, ...

- On a terminal it is one line rewritten in place, drawn by tqdm when it is
  installed (``pip install tqdm``), else by a plain ``\\r`` line.
- On anything else (a log file, a pipe, CI output) it is a plain line every
  few seconds (``interval``, default 5 s) and a last one at the end: never
  a stream of carriage returns.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator, List, Optional, Tuple, TypeVar

if TYPE_CHECKING:
    from dftracer.utils.runtime import Runtime

__all__ = ["ProgressBar", "progress"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Redraw period on a terminal, and the default line period elsewhere (seconds).
TTY_REFRESH = 0.2
LOG_INTERVAL = 5.0
# Running task names shown at most; the rest are counted.
_MAX_NAMES = 3


def _format_duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _is_tty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # closed
        return False


class _Snapshot:
    """What one line shows."""

    __slots__ = ("done", "total", "failed", "running")

    def __init__(self, done: int, total: Optional[int], failed: int, running: List[str]) -> None:
        self.done = done
        self.total = total
        self.failed = failed
        self.running = running


class ProgressBar:
    """A progress line for work on a runtime.

    ``counts()`` returns ``(done, total)`` (total may be None); ``runtime``,
    when given, adds failures (since the bar started) and the tasks its
    workers are running. Call :meth:`refresh` as often as you like (it
    redraws only when due) and :meth:`close` at the end.

    Example::

        bar = ProgressBar(lambda: (done, len(paths)), runtime=rt, desc="parse")
        ...
        bar.close()
    """

    def __init__(
        self,
        counts: Callable[[], Tuple[int, Optional[int]]],
        runtime: Optional["Runtime"] = None,
        desc: str = "",
        file: Optional[IO[str]] = None,
        interval: Optional[float] = None,
        unit: str = "task",
    ) -> None:
        self._counts = counts
        self._runtime = runtime
        self._desc = desc
        self._file: IO[str] = file if file is not None else sys.stderr
        self._tty = _is_tty(self._file)
        self._interval = interval if interval is not None else (TTY_REFRESH if self._tty else LOG_INTERVAL)
        self._start = time.monotonic()
        self._last_draw = -float("inf") if self._tty else self._start
        self._lock = threading.Lock()
        self._closed = False
        self._failed_base = self._failed_now()
        self._width = 0
        # On a terminal, tqdm draws the bar when it is installed.
        self._tqdm: Any = None
        if self._tty:
            try:
                from tqdm import tqdm  # type: ignore[import-untyped]
            except ImportError:
                pass
            else:
                done, total = counts()
                self._tqdm = tqdm(
                    total=total, initial=done, desc=desc or None, unit=unit, file=self._file, dynamic_ncols=True
                )

    def _failed_now(self) -> int:
        if self._runtime is None or self._runtime._is_unusable():
            return 0
        p = self._runtime.get_progress(max_tasks=0)
        return int(p["failed"])

    def snapshot(self) -> _Snapshot:
        done, total = self._counts()
        failed, running = 0, []
        rt = self._runtime
        if rt is not None and not rt._is_unusable():
            p = rt.get_progress(max_tasks=0)
            failed = int(p["failed"]) - self._failed_base
            # Workers, then the threads running a task they wait for (caller runs).
            running = [w["task"] for w in p["workers"] if w["task"]] + [c["task"] for c in p["callers"] if c["task"]]
        return _Snapshot(done, total, failed, running)

    def format(self, s: _Snapshot, with_counts: bool = True) -> str:
        """The text of one line (without the tqdm part on a terminal)."""
        elapsed = max(time.monotonic() - self._start, 1e-9)
        parts = []
        if with_counts:
            head = f"{self._desc}: " if self._desc else ""
            if s.total:
                pct = 100.0 * s.done / s.total
                parts.append(f"{head}{s.done}/{s.total} {pct:.0f}%")
            else:
                parts.append(f"{head}{s.done}")
            rate = s.done / elapsed
            parts.append(f"{rate:.1f}/s")
            if s.total and rate > 0 and s.done < s.total:
                parts.append(f"eta {_format_duration((s.total - s.done) / rate)}")
            else:
                parts.append(f"elapsed {_format_duration(elapsed)}")
        if s.failed:
            parts.append(f"failed {s.failed}")
        text = " ".join(parts)
        if s.running:
            names = ", ".join(s.running[:_MAX_NAMES])
            more = len(s.running) - _MAX_NAMES
            text += (" | " if text else "") + f"running: {names}" + (f" (+{more})" if more > 0 else "")
        return text

    def refresh(self, force: bool = False) -> None:
        """Redraws if ``interval`` passed since the last draw (or ``force``)."""
        with self._lock:
            if self._closed:
                return
            now = time.monotonic()
            if not force and now - self._last_draw < self._interval:
                return
            self._last_draw = now
            self._draw(self.snapshot(), final=False)

    def _draw(self, s: _Snapshot, final: bool) -> None:
        if self._tqdm is not None:
            bar = self._tqdm
            if s.total is not None and bar.total != s.total:
                bar.total = s.total
            if s.done > bar.n:
                bar.update(s.done - bar.n)
            bar.set_postfix_str(self.format(s, with_counts=False), refresh=False)
            bar.refresh()
            return
        text = self.format(s)
        if self._tty:
            columns = shutil.get_terminal_size((100, 20)).columns
            if len(text) > columns - 1:
                text = text[: max(columns - 2, 10)] + "…"
            pad = " " * max(self._width - len(text), 0)  # erase a longer previous line
            self._width = len(text)
            self._file.write("\r" + text + pad + ("\n" if final else ""))
        else:
            self._file.write(text + "\n")
        self._file.flush()

    def close(self) -> None:
        """Draws the last line and ends it. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            s = self.snapshot()
            s.running = []
            self._draw(s, final=True)
            if self._tqdm is not None:
                self._tqdm.close()


class _Ticker:
    """Redraws a bar from a daemon thread while the consumer is busy or
    blocked, so the line keeps moving (and 'running:' stays current)."""

    def __init__(self, bar: ProgressBar, period: float) -> None:
        self._bar = bar
        self._stop = threading.Event()
        self._period = period
        self._thread = threading.Thread(target=self._run, name="dftracer-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self._bar.refresh()
            except Exception:  # a closed stream, a runtime torn down under us: stop drawing
                logger.debug("dftracer.utils progress bar stopped redrawing", exc_info=True)
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def progress(
    iterable: Iterable[T],
    total: Optional[int] = None,
    desc: str = "",
    runtime: Optional["Runtime"] = None,
    file: Optional[IO[str]] = None,
    interval: Optional[float] = None,
) -> Iterator[T]:
    """Iterates ``iterable`` with a progress line (see the module docs).

    ``total`` defaults to ``len(iterable)`` or, for :meth:`Runtime.map`, the
    length of its inputs when they have one. ``runtime`` (default: the
    map's) adds failures and what its workers run. Leaving the loop early
    closes ``iterable`` too.

    Example::

        for result in dft.progress(rt.map(parse, paths), desc="parse"):
            ...
    """
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = getattr(iterable, "total", None)
    if runtime is None:
        runtime = getattr(iterable, "runtime", None)
    return _iterate(iterable, total, desc, runtime, file, interval)


def _iterate(
    iterable: Iterable[T],
    total: Optional[int],
    desc: str,
    runtime: Optional["Runtime"],
    file: Optional[IO[str]],
    interval: Optional[float],
) -> Iterator[T]:
    done = 0
    bar = ProgressBar(lambda: (done, total), runtime=runtime, desc=desc, file=file, interval=interval, unit="item")
    ticker = _Ticker(bar, min(bar._interval, TTY_REFRESH) if bar._tty else bar._interval)
    it = iter(iterable)
    try:
        for item in it:
            done += 1
            yield item
    finally:
        ticker.stop()
        bar.close()
        close = getattr(it, "close", None)
        if close is not None:
            close()


def wait_all_with_progress(
    runtime: "Runtime", file: Optional[IO[str]] = None, interval: Optional[float] = None
) -> None:
    """The waiting loop of ``Runtime.wait_all(progress=True)``: done counts
    tasks finished since the call, total adds those still pending (it grows
    when tasks submit more)."""

    def finished(p: Any) -> int:
        return int(p["completed"]) + int(p["failed"]) + int(p["cancelled"])

    p0 = runtime.get_progress(max_tasks=0)
    base = finished(p0)

    def counts() -> Tuple[int, Optional[int]]:
        p = runtime.get_progress(max_tasks=0)
        return finished(p) - base, int(p["total"]) - base

    bar = ProgressBar(counts, runtime=runtime, desc="wait_all", file=file, interval=interval)
    try:
        slice_s = min(bar._interval, TTY_REFRESH)
        while not runtime._native.wait_all(slice_s):
            bar.refresh()
    finally:
        bar.close()
