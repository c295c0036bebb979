"""dftracer.utils: a task runtime for Python with a C++20 work-stealing engine.

Example::

    import dftracer.utils as dft

    with dft.Runtime(threads=4) as rt:
        handles = [rt.submit(len, s, name=f"len-{s}") for s in ("a", "bb", "ccc")]
        rt.wait_all()
        print([h.get() for h in handles])   # [1, 2, 3]
"""

from __future__ import annotations

from dftracer.utils import _core
from dftracer.utils._core import TaskTimeoutError, _NativeTaskHandle
from dftracer.utils.runtime import Runtime
from dftracer.utils.task_handle import TaskHandle

__all__ = [
    "Runtime",
    "TaskHandle",
    "TaskTimeoutError",
    "cancelled",
    "report_progress",
    "__version__",
]

__version__: str = _core.__version__


def cancelled() -> bool:
    """True when the task running this code was asked to stop.

    Long loops inside a submitted callable can poll it and return early
    after :meth:`TaskHandle.cancel` or a shutdown without waiting::

        def crunch(items):
            for i, item in enumerate(items):
                if dft.cancelled():
                    return i
                work(item)
    """
    return bool(_core.current_task_cancelled())


def report_progress(completed: int, total: int) -> None:
    """Reports the calling task's own progress (``completed`` of ``total``
    subtasks); it shows as ``progress_pct`` in :meth:`Runtime.get_progress`.
    Does nothing outside a task."""
    _core.report_progress(completed, total)


# Imported for its side effects: the atexit and fork hooks.
from dftracer.utils import _lifecycle as _lifecycle  # noqa: E402,F401
