"""Process lifecycle for runtimes: interpreter exit and ``os.fork``.

At exit, every live runtime is shut down from an ``atexit`` hook, before the
interpreter finalizes (a worker that touched Python during finalization
would be killed or hang): runtimes are closed, queued tasks are cancelled,
running ones get a grace period, and a runtime whose tasks still run after it
is abandoned (its threads never touch Python again). This module is the only
code that replaces a runtime's ``_native`` (fork) or abandons it (exit).

After ``os.fork()`` the child has none of the parent's worker threads: each
inherited runtime is abandoned in the child (never joined, never freed) and
any use of it raises a clear error. The parent's runtimes keep working.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
import weakref
from typing import TYPE_CHECKING, Any, List

from dftracer.utils import _core

if TYPE_CHECKING:
    from dftracer.utils.runtime import Runtime

logger = logging.getLogger(__name__)

#: Seconds a running task gets to finish at interpreter exit.
EXIT_GRACE_SECONDS = float(os.environ.get("DFTRACER_UTILS_EXIT_GRACE", "5"))

_live: "weakref.WeakSet[Runtime]" = weakref.WeakSet()
# Native runtimes inherited by a forked child: kept forever, never freed.
_abandoned: List[Any] = []


def register(runtime: "Runtime") -> None:
    _live.add(runtime)


def unregister(runtime: "Runtime") -> None:
    _live.discard(runtime)


def live_runtimes() -> List["Runtime"]:
    """The runtimes of this process not yet shut down (task dumps on a signal)."""
    return list(_live)


class ForkedRuntime:
    """Stands in for a native runtime inherited through ``os.fork``."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            "this dftracer.utils Runtime was created in the parent process and has no "
            "threads after os.fork(); create a new Runtime in the child"
        )


def _usable_native(runtime: "Runtime") -> Any:
    """The runtime's native side, or None when shut down, forked or abandoned."""
    native = runtime._native
    if isinstance(native, ForkedRuntime) or native.is_shut_down:
        return None
    return native


def _abandon_at_exit(runtime: "Runtime", native: Any, reason: str) -> None:
    """Leaves a runtime's threads behind: they never touch Python again."""
    try:
        progress = native.progress(0)
        running = progress["running"] + progress["blocked"]
    except BaseException:  # the warning must not keep us from abandoning
        running = -1
    logger.warning(
        "dftracer.utils: %d task(s) still running %s; leaving their threads behind",
        running,
        reason,
    )
    _core.mark_interpreter_exiting()
    native.abandon()
    _abandoned.append(native)
    unregister(runtime)


def _shutdown_all_at_exit() -> None:
    """The atexit hook: every live runtime is closed to new work, its queued
    tasks are cancelled, and running ones get one grace period shared by all
    runtimes (EXIT_GRACE_SECONDS). A runtime drained in time is shut down;
    one that is not is abandoned (its threads never touch Python again).
    Ctrl-C during the grace period abandons the rest at once: nothing here
    may keep the process from exiting."""
    runtimes = [(rt, n) for rt in list(_live) if (n := _usable_native(rt)) is not None]
    deadline = time.monotonic() + EXIT_GRACE_SECONDS
    pending = list(runtimes)
    try:
        # Close and cancel everywhere first, then wait: one grace period for
        # all of them, not one each.
        for _, native in runtimes:
            native.close(True)
            native.cancel_pending()
        while pending:
            runtime, native = pending[0]
            left = max(deadline - time.monotonic(), 0.0)
            if native.drain(left, True):
                native.shutdown(False)
                unregister(runtime)
            else:
                _abandon_at_exit(
                    runtime,
                    native,
                    f"when the interpreter exit grace period (DFTRACER_UTILS_EXIT_GRACE={EXIT_GRACE_SECONDS:g}s) ended",
                )
            pending.pop(0)
    except KeyboardInterrupt:
        for runtime, native in pending:
            _abandon_at_exit(runtime, native, "when Ctrl-C interrupted the interpreter exit")
    except BaseException:  # never let one runtime keep the others alive
        logger.exception("dftracer.utils: shutting down runtimes at exit failed")
        for runtime, native in pending:
            if _usable_native(runtime) is not None:
                _abandon_at_exit(runtime, native, "after an error at interpreter exit")
    finally:
        # Runtimes dropped inside their own tasks are torn down by reaper
        # threads: give them what is left of the grace period.
        try:
            _core.wait_for_reapers(max(deadline - time.monotonic(), 0.0))
        except BaseException:
            pass
        _core.mark_interpreter_exiting()


def _after_fork_in_child() -> None:
    for runtime in list(_live):
        native = runtime._native
        if isinstance(native, ForkedRuntime):
            continue
        native.abandon()
        _abandoned.append(native)
        runtime._native = ForkedRuntime()  # type: ignore[assignment]
    _live.clear()


atexit.register(_shutdown_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
