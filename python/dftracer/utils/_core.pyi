"""Type stub for ``dftracer.utils._core``, the C++ extension module (built
from cpp/python/*.cpp). Checked against the built module with
``python -m mypy.stubtest dftracer.utils._core``.

Users import from ``dftracer.utils``; these names are the engine's Python
view, wrapped by :class:`dftracer.utils.Runtime` and
:class:`dftracer.utils.TaskHandle`.
"""

from typing import Any, Callable, Final, Optional, Tuple, Union, final

from dftracer.utils.progress_types import Progress

#: Milliseconds as a number, or a string with its unit ("250ms", "30s");
#: None (or 0) for none.
_Duration = Union[int, float, str, None]

__version__: Final[str]
#: "release" or "debug" (NDEBUG at build time).
build_type: Final[str]
#: The compiler that built the module (``__VERSION__``).
compiler: Final[str]
#: (major, minor) of the C ABI table exported in ``_C_API``.
C_API_VERSION: Final[Tuple[int, int]]
#: A ``PyCapsule`` holding the versioned C ABI table for other extensions.
_C_API: Final[object]

#: What ``_NativeTaskHandle._completed_result()`` answers for a task that is
#: not a finished success.
NOT_READY: Final[object]

class TaskTimeoutError(TimeoutError):
    """A task ran past its deadline (a TimeoutError)."""

class RuntimeFullError(RuntimeError):
    """max_pending tasks are already queued or running: raised by Runtime.try_submit() instead of waiting."""

@final
class _NativeTaskHandle:
    """Native view of one submitted task. Wrapped by dftracer.utils.TaskHandle.

    Not constructible from Python: the runtime (or an extension, through the
    C ABI) hands them out.
    """

    @property
    def task_id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str:
        """queued, running, completed, failed, cancelled or timed_out."""
    @property
    def queued_duration_ms(self) -> float: ...
    @property
    def execution_duration_ms(self) -> float: ...
    def done(self) -> bool: ...
    def wait(self, timeout: Optional[float] = None) -> bool:
        """Blocks until the task is final or the timeout (seconds) passes; returns done()."""
    def result(self, timeout: Optional[float] = None) -> Any:
        """Blocks until the task is final and returns its result, or raises
        its exception; TimeoutError when ``timeout`` seconds pass first,
        concurrent.futures.CancelledError for a cancelled task."""
    def get(self, timeout: Optional[float] = None) -> Any:
        """Alias of result(), so a native handle is used the way a dftracer.utils.TaskHandle is."""
    def _completed_result(self) -> Any:
        """The result when done and completed, else dftracer.utils._core.NOT_READY."""
    def exception(self) -> Optional[BaseException]:
        """The exception of a failed or timed-out task; None while unfinished, on success or when cancelled."""
    def cancel(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def cancel_requested(self) -> bool: ...
    def add_done_callback(self, fn: Callable[[_NativeTaskHandle], object]) -> None:
        """Calls fn(handle) once the task is final: now if it already is, else on the thread that finishes it (a runtime worker, or a Python thread that cancels it)."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

@final
class _NativeRuntime:
    """The C++ runtime behind dftracer.utils.Runtime."""

    def __init__(
        self,
        threads: int = 0,
        io_threads: int = 0,
        python_threads: int = 0,
        recent_capacity: int = 1024,
        watchdog_interval: _Duration = 100,
        stall_threshold: _Duration = 10000,
        starvation_threshold: _Duration = 1000,
        long_task_threshold: _Duration = 10000,
        max_temporary_workers: int = 256,
        max_pending: int = 0,
        caller_runs: bool = True,
    ) -> None: ...
    def set_default_task_timeout(self, timeout: _Duration) -> None: ...
    def set_timeout(self, timeout: _Duration) -> None: ...
    def submit_python(
        self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any], name: object, io: bool = False, /
    ) -> Any:
        """Submits fn(*args, **kwargs); returns a dftracer.utils.TaskHandle, or None when fn is not callable."""
    def _submit_python_full(
        self, fn: object, args: tuple[Any, ...], kwargs: dict[str, Any], name: object, io: bool = False
    ) -> Any:
        """submit_python's full path: every check, max_pending, the io pool."""
    def try_submit_python(
        self,
        fn: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: object,
        io: bool = False,
        timeout: float = 0.0,
    ) -> Any:
        """As submit_python, but raises RuntimeFullError when no max_pending slot frees up within timeout seconds."""
    def wait_all(self, timeout: Optional[float] = None) -> bool:
        """True once nothing is queued or running; False when ``timeout`` seconds passed first."""
    def shutdown(self, wait: bool = True) -> None: ...
    def set_error_callback(self, callback: Optional[Callable[[_NativeTaskHandle, BaseException], object]]) -> None: ...
    def progress(self, max_tasks: int = 1000, recent: bool = True) -> Progress:
        """``recent=False`` leaves the recently finished tasks out of ``tasks`` (for totals-only readers)."""
    def is_responsive(self) -> bool: ...
    def failed(self) -> list[_NativeTaskHandle]: ...
    def clear_failed(self) -> None: ...
    def take_unreported_failures(self) -> tuple[list[tuple[str, str]], int]: ...
    def owns(self, handle: _NativeTaskHandle) -> bool:
        """True when the handle's task was submitted to this runtime."""
    def abandon(self) -> None: ...
    def cancel_pending(self) -> int:
        """Cancels every queued task and sets the cancel token of running ones; returns how many were cancelled."""
    def close(self, everything: bool) -> None:
        """Refuses new work from outside (everything=True: from anywhere) from now on."""
    def drain(self, timeout: Optional[float] = None, cancel: bool = False) -> bool:
        """Waits (interruptibly) until nothing is active and no body runs; True when drained in time."""
    def start_trace(self, path: str, flush_interval_ms: float = 0.0) -> None:
        """Starts writing the timeline to path (gzip when it ends in .gz); OSError when it cannot be written."""
    def stop_trace(self) -> Any:
        """Finishes the trace file; a summary dict (path, events, dropped, error), or None when not tracing."""
    @property
    def tracing(self) -> bool:
        """True while a trace is written (False after a write error)."""
    @property
    def trace_path(self) -> Optional[str]:
        """The file being traced to, or None."""
    def dump_tasks(self) -> list[dict[str, Any]]:
        """One dict per running task: where it runs, for how long, what it waits on, the Python thread running it."""
    @property
    def threads(self) -> int: ...
    @property
    def io_threads(self) -> int: ...
    @property
    def python_threads(self) -> int: ...
    @property
    def is_shut_down(self) -> bool:
        """True once shut down or abandoned."""
    @property
    def active(self) -> int: ...
    @property
    def runtime_id(self) -> int:
        """Identifies the C++ runtime for the life of the process (what current_runtime_id() answers on its workers)."""
    @property
    def max_pending(self) -> int:
        """The max_pending bound (0: none)."""
    @property
    def pending(self) -> int:
        """Tasks holding a max_pending slot now (0 when there is no bound)."""

#: The Runtime option defaults (durations in milliseconds).
DEFAULTS: dict[str, int]

def wait_for_reapers(timeout: float) -> bool:
    """Waits for runtimes dropped inside their own tasks to finish tearing down; True when none is left."""

@final
class _CompletionQueue:
    """Finished tasks in completion order (engine side of as_completed, wait, unordered map)."""

    def __init__(self) -> None: ...
    def watch(self, handle: _NativeTaskHandle, key: int) -> None:
        """Queues `key` once the task of `handle` is final (now if it already is)."""
    def post(self, key: int) -> None:
        """Queues `key` now."""
    def get(self, timeout: Optional[float] = None) -> Optional[int]:
        """The next key in completion order, or None when `timeout` seconds pass first; GIL released while waiting."""
    def ready(self) -> int:
        """How many keys get() can return without waiting."""

def mark_interpreter_exiting() -> None:
    """Called from the package's atexit hook: runtime threads stop touching Python."""

def current_task_cancelled() -> bool:
    """True when the task running this code was asked to stop (cancel or timeout)."""

def report_progress(completed: int, total: int) -> None: ...
def current_task_id() -> int: ...
def current_runtime_id() -> int:
    """The runtime_id of the runtime whose worker (compute, I/O or temporary) runs this code; 0 elsewhere."""

def default_thread_count() -> int:
    """The compute thread count threads=0 resolves to (DFTRACER_UTILS_THREADS or the usable CPUs)."""

def derive_task_name(fn: object) -> str:
    """The default task name for a callable (see dftracer.utils.naming)."""

def register_runtime_type(cls: type) -> None:
    """Called once by dftracer.utils.runtime: the class the C ABI's runtime_from_python accepts."""

def register_task_handle_type(cls: type) -> None:
    """Called once by dftracer.utils.task_handle: the class submit() returns."""

def _bench_native_tasks(runtime: _NativeRuntime, n: int) -> float:
    """Seconds to submit and finish n no-op native tasks (a benchmark)."""
