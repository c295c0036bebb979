"""Process lifecycle for runtimes: interpreter exit and ``os.fork``.

At exit, every live runtime is shut down from an ``atexit`` hook, before the
interpreter finalizes (a worker that touched Python during finalization
would be killed or hang): queued tasks are cancelled, running ones get a
grace period, and a runtime whose tasks still run after it is abandoned
(its threads never touch Python again).

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


class ForkedRuntime:
    """Stands in for a native runtime inherited through ``os.fork``."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            "this dftracer.utils Runtime was created in the parent process and has no "
            "threads after os.fork(); create a new Runtime in the child"
        )


def _shutdown_all_at_exit() -> None:
    runtimes = list(_live)
    # One grace period for all of them, not one each: cancel everything
    # queued everywhere first, then wait.
    for runtime in runtimes:
        try:
            native = runtime._native
            if not isinstance(native, ForkedRuntime) and not native.is_shut_down:
                native.cancel_pending()
        except BaseException:
            logger.exception("dftracer.utils: cancelling a runtime's tasks at exit failed")
    deadline = time.monotonic() + EXIT_GRACE_SECONDS
    for runtime in runtimes:
        try:
            runtime._shutdown_at_exit(deadline)
        except BaseException:  # never let one runtime keep the others alive
            logger.exception("dftracer.utils: shutting down a runtime at exit failed")
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
