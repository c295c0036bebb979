"""Shared fixtures and helpers for the dftracer.utils pytest suite."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable, Dict, Iterator, Optional

import pytest

import dftracer.utils as dft

# GCC 12's ASan allocator takes a global lock that fork does not protect: a
# child forked while another thread allocates hangs in it for good (gdb:
# __sanitizer::Mutex::Lock in SizeClassAllocator64::GetFromAllocator, 2 runs
# in 10 of test_exit_and_fork.py). scripts/sanitize.sh python sets
# DFTRACER_UNDER_ASAN; the fork tests run in every other pass.
_FORK_UNSAFE_ALLOCATOR = os.environ.get("DFTRACER_UNDER_ASAN") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _FORK_UNSAFE_ALLOCATOR:
        return
    skip = pytest.mark.skip(reason="forks while threads allocate: the ASan allocator's lock is not fork-safe")
    for item in items:
        if "forks" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rt() -> Iterator[dft.Runtime]:
    """A small runtime (2 compute, 1 I/O worker), shut down after the test."""
    runtime = dft.Runtime(threads=2, io_threads=1)
    yield runtime
    runtime.shutdown(wait=False)


@pytest.fixture
def rt1() -> Iterator[dft.Runtime]:
    """A runtime with a single compute worker: the hardest case for nesting."""
    runtime = dft.Runtime(threads=1, io_threads=1)
    yield runtime
    runtime.shutdown(wait=False)


def _run_as_main(source: str, **names: Any) -> Dict[str, Any]:
    """Runs ``source`` as if it were the script being run (``__name__ ==
    "__main__"``), so derived task names carry no module prefix, and returns
    its globals. ``names`` are pre-bound globals."""
    namespace: Dict[str, Any] = {"__name__": "__main__", **names}
    exec(compile(textwrap.dedent(source), "<seed example>", "exec"), namespace)
    return namespace


def _python_script(
    source: str,
    *args: str,
    timeout: float = 60.0,
    env: Optional[Dict[str, str]] = None,
) -> subprocess.CompletedProcess[str]:
    """Runs ``source`` in a fresh interpreter and returns the finished process."""
    full_env = dict(os.environ)
    full_env.setdefault("PYTHONFAULTHANDLER", "1")
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


class Concurrency:
    """Counts how many callers are inside ``enter``/``leave`` at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current = 0
        self.peak = 0

    def __enter__(self) -> "Concurrency":
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.current -= 1


def _wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.005) -> bool:
    """Polls ``predicate`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# Helpers are handed out as fixtures (not imported from conftest), so test
# modules need no import path tricks and type-check as tests.python.*.


@pytest.fixture
def run_as_main() -> Callable[..., Dict[str, Any]]:
    """``run_as_main(source, **globals)``: runs a snippet as ``__main__``."""
    return _run_as_main


@pytest.fixture
def python_script() -> Callable[..., "subprocess.CompletedProcess[str]"]:
    """``python_script(source, *args, timeout=, env=)``: runs it in a fresh interpreter."""
    return _python_script


@pytest.fixture
def wait_until() -> Callable[..., bool]:
    """``wait_until(predicate, timeout=10)``: polls until it holds."""
    return _wait_until


@pytest.fixture
def concurrency() -> Concurrency:
    """A fresh :class:`Concurrency` counter."""
    return Concurrency()
