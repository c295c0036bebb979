"""dftracer.utils: a task runtime for Python with a C++20 work-stealing engine.

Example::

    import dftracer.utils as dft

    with dft.Runtime(threads=4) as rt:
        handles = [rt.submit(len, s, name=f"len-{s}") for s in ("a", "bb", "ccc")]
        rt.wait_all()
        print([h.get() for h in handles])   # [1, 2, 3]
        print(list(rt.map(len, ["a", "bb"])))  # [1, 2]: lazy and bounded, for millions of items

The public namespace is what ``__all__`` names, plus the submodules.
"""

from pathlib import Path as _Path
from types import ModuleType as _ModuleType
from typing import List as _List

from dftracer.utils import _core
from dftracer.utils._core import RuntimeFullError, TaskTimeoutError
from dftracer.utils.completion import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    DoneAndNotDone,
    as_completed,
    wait,
)
from dftracer.utils.default_runtime import get_default_runtime, peek_default_runtime, set_default_runtime
from dftracer.utils.executor import RuntimeExecutor
from dftracer.utils.logging_control import get_log_level, set_log_color, set_log_level
from dftracer.utils.mapping import MapIterator
from dftracer.utils.progress_bar import progress
from dftracer.utils.runtime import Runtime
from dftracer.utils.task_handle import TaskHandle

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "DoneAndNotDone",
    "MapIterator",
    "Runtime",
    "RuntimeExecutor",
    "RuntimeFullError",
    "TaskHandle",
    "TaskTimeoutError",
    "as_completed",
    "cancelled",
    "get_cmake_dir",
    "get_default_runtime",
    "get_include",
    "get_log_level",
    "peek_default_runtime",
    "progress",
    "report_progress",
    "set_default_runtime",
    "set_log_color",
    "set_log_level",
    "wait",
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


def get_include() -> str:
    """The folder with ``dftracer/utils/c_api.h`` and ``c_api.hpp``, for
    extensions that submit native tasks (add it to their include path)."""
    return str(_Path(_core.__file__).parent / "include")


def get_cmake_dir() -> str:
    """The folder with ``DFTracerUtilsConfig.cmake`` (``find_package(DFTracerUtils)``)."""
    return str(_Path(_core.__file__).parent.parent / "share" / "cmake" / "DFTracerUtils")


def __dir__() -> _List[str]:
    """What ``__all__`` names, plus the public submodules imported so far
    (each one an attribute): the rest of the module's globals (imports,
    helpers) are implementation."""
    loaded = {
        name
        for name, value in globals().items()
        if not name.startswith("_") and isinstance(value, _ModuleType) and value.__name__ == f"{__name__}.{name}"
    }
    return sorted(set(__all__) | loaded)


# Imported for its side effects: the atexit and fork hooks.
from dftracer.utils import _lifecycle as _lifecycle  # noqa: E402,F401
from dftracer.utils import logging_control as _logging_control  # noqa: E402

_logging_control._configure_from_environment()
