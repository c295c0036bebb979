"""The default runtime: the one used when code is given none.

Owns two things:

- the *process default*: created on first use by :func:`get_default_runtime`
  with automatic sizes, or set with :func:`set_default_runtime`;
- the *Dask worker defaults*: inside a task running on a Dask worker whose
  :class:`~dftracer.utils.dask.DFTracerUtilsDaskWorkerPlugin` gave it a
  runtime, that runtime is the default (also in the tasks it submits to
  that runtime). Several workers sharing one process
  (``LocalCluster(processes=False)``) each get their own.

Example::

    import dftracer.utils as dft

    assert dft.peek_default_runtime() is None      # nothing created yet
    rt = dft.get_default_runtime()                 # created now, automatic sizes
    assert dft.peek_default_runtime() is rt

    mine = dft.Runtime(threads=2)
    dft.set_default_runtime(mine)                  # rt keeps running
    assert dft.get_default_runtime() is mine
    dft.set_default_runtime(None)                  # back to "create on first use"
    mine.shutdown()
"""

from __future__ import annotations

import sys
import threading
from typing import Dict, List, Optional

from dftracer.utils import _core
from dftracer.utils.runtime import Runtime

__all__ = ["get_default_runtime", "peek_default_runtime", "set_default_runtime", "WORKER_RUNTIME_ATTR"]

#: The attribute of a Dask worker object that holds its runtime.
WORKER_RUNTIME_ATTR = "dftracer_utils_runtime"

_lock = threading.Lock()
_process_default: Optional[Runtime] = None
# Whether _process_default was created here (not given by the program).
_created_here = False
# Defaults created here and then replaced while they still had work: kept
# alive until that work drains, so replacing a default never cuts its
# tasks off (dropping the last reference to a runtime shuts it down).
_retired: List[Runtime] = []
# Runtimes given to Dask workers, by runtime_id: the runtime, and the
# process default it replaced (restored when the worker lets go of it).
_worker_runtimes: Dict[int, Runtime] = {}
_replaced: Dict[int, Optional[Runtime]] = {}


def _usable(runtime: Optional[Runtime]) -> bool:
    return runtime is not None and not runtime._is_unusable()


def _worker_default() -> Optional[Runtime]:
    """The runtime of the Dask worker this code runs for, if any."""
    if not _worker_runtimes:  # no worker in this process has one: skip the lookups
        return None
    worker_module = sys.modules.get("distributed.worker")
    if worker_module is not None:
        try:
            worker = worker_module.get_worker()
        except ValueError:  # not in a Dask task
            worker = None
        if worker is not None:
            runtime = getattr(worker, WORKER_RUNTIME_ATTR, None)
            if isinstance(runtime, Runtime) and _usable(runtime):
                return runtime
            return None
    # A task of a worker's runtime (submitted from a Dask task): Dask's
    # context does not follow it onto the runtime's threads, the runtime does.
    runtime_id = _core.current_runtime_id()
    if runtime_id:
        runtime = _worker_runtimes.get(runtime_id)
        if runtime is not None and _usable(runtime):
            return runtime
    return None


def _prune_retired() -> None:
    """Lets go of retired defaults whose work has drained. Lock held."""
    _retired[:] = [r for r in _retired if _usable(r) and r._native.active > 0]


def get_default_runtime() -> Runtime:
    """The runtime to use when none is given.

    Inside a task running on a Dask worker that has a runtime (see
    :mod:`dftracer.utils.dask`), that worker's runtime. Elsewhere the process
    default: the one given to :func:`set_default_runtime`, or one created on
    first use with automatic sizes (``DFTRACER_UTILS_THREADS``,
    ``DFTRACER_UTILS_IO_THREADS`` or the usable CPUs), shut down at exit. A
    default that was shut down, or inherited through ``os.fork()``, is
    replaced by a new one.
    """
    worker_runtime = _worker_default()
    if worker_runtime is not None:
        return worker_runtime
    global _process_default, _created_here
    with _lock:
        if not _usable(_process_default):
            _process_default = Runtime()
            _created_here = True
        assert _process_default is not None
        return _process_default


def peek_default_runtime() -> Optional[Runtime]:
    """What :func:`get_default_runtime` would return, or ``None`` where it
    would have to create one; never creates one."""
    worker_runtime = _worker_default()
    if worker_runtime is not None:
        return worker_runtime
    with _lock:
        return _process_default if _usable(_process_default) else None


def set_default_runtime(runtime: Optional[Runtime]) -> None:
    """Makes ``runtime`` the process default; ``None`` goes back to creating
    one on first use.

    The previous default is not shut down: whoever holds it can go on using
    it, and one :func:`get_default_runtime` created is kept alive until the
    tasks it still has finish. Inside a Dask task the worker's own runtime
    stays that task's default (see :func:`get_default_runtime`).

    Raises:
        TypeError: ``runtime`` is neither a :class:`~dftracer.utils.Runtime`
            nor ``None``.
        ValueError: ``runtime`` is shut down (or inherited through fork).
    """
    if runtime is not None and not isinstance(runtime, Runtime):
        raise TypeError(f"set_default_runtime() takes a Runtime or None, not {type(runtime).__name__}")
    if runtime is not None and runtime._is_unusable():
        raise ValueError(f"{runtime!r} is shut down and cannot be the default runtime")
    with _lock:
        _replace_locked(runtime)


def _replace_locked(runtime: Optional[Runtime]) -> None:
    global _process_default, _created_here
    previous = _process_default
    if previous is not None and previous is not runtime and _created_here and _usable(previous):
        _retired.append(previous)
    _process_default = runtime
    _created_here = False
    _prune_retired()


def _bind_worker_runtime(runtime: Runtime) -> None:
    """Called by the Dask plugin's setup: ``runtime`` belongs to a worker;
    it becomes the process default too (code on the worker outside its
    tasks finds it), remembering the default it replaced."""
    with _lock:
        key = runtime._native.runtime_id
        _worker_runtimes[key] = runtime
        _replaced[key] = _process_default if _usable(_process_default) else None
        _replace_locked(runtime)


def _unbind_worker_runtime(runtime: Runtime) -> None:
    """Called by the Dask plugin's teardown, before the runtime shuts down.
    If it is still the process default, the default it replaced comes back
    (or, when that one is gone too, the one before it)."""
    global _process_default, _created_here
    with _lock:
        key = next((k for k, r in _worker_runtimes.items() if r is runtime), None)
        if key is None:
            return
        del _worker_runtimes[key]
        previous = _replaced.pop(key, None)
        # Unlink it from the chain of replaced defaults.
        for other, replaced in _replaced.items():
            if replaced is runtime:
                _replaced[other] = previous
        if _process_default is runtime:
            _process_default = previous if _usable(previous) else None
            _created_here = False
