"""Typed shape of :meth:`Runtime.get_progress`'s result."""

from __future__ import annotations

from typing import List, Optional, TypedDict

__all__ = [
    "Progress",
    "ProgressTotals",
    "WorkerProgress",
    "CallerProgress",
    "TaskProgress",
    "ErrorProgress",
    "WatchdogProgress",
]


class WorkerProgress(TypedDict):
    """One worker thread of the compute pool (``workers``) or of the I/O
    pool (``io_workers``)."""

    id: int  # its index in its pool, from 0
    pool: str  # "compute" or "io"
    idle: bool  # no submitted task on it
    task: str  # name of the task it runs (or, blocked, waits in), "" when idle
    queue_depth: int  # items in its own deque
    state: str  # idle, running, parked, blocked (waiting inside a task), retired
    tasks_run: int
    temporary: bool  # added while other workers were blocked
    busy_ms: float  # how long the current task has run


class CallerProgress(TypedDict):
    """A task running on a thread outside the pools that waits for it
    (``Runtime(caller_runs=True)``, the default)."""

    id: int  # a slot number, not a thread
    task_id: int
    task: str
    busy_ms: float


class TaskProgress(TypedDict):
    """A live task, or one of the recently finished ones."""

    task_id: int
    name: str
    state: str  # queued, running, completed, failed, cancelled, timed_out
    queued_duration_ms: float
    execution_duration_ms: float
    progress_pct: float
    total_subtasks: int  # as the task reported them (dft.report_progress)
    completed_subtasks: int
    location: str  # "file.py:line" where the callable was defined; "" when unknown
    parent_id: Optional[int]  # the task that submitted this one; None from outside any task
    children: List[int]  # ids of the tasks it submitted, among those listed (at most 64)


class ErrorProgress(TypedDict):
    """A recent failure or timeout."""

    task_id: int
    name: str
    state: str
    message: str


class WatchdogProgress(TypedDict):
    """What the watchdog has seen and done."""

    enabled: bool  # False when watchdog_interval is 0
    responsive: bool  # same as Runtime.is_responsive()
    stalled: bool  # work queued and nothing finishing for stall_threshold
    global_timeout_expired: bool  # set_timeout()'s deadline passed
    temporary_workers_added: int  # cumulative
    temporary_workers_live: int  # current
    tasks_timed_out: int  # cumulative


class ProgressTotals(TypedDict):
    """Task counts: cumulative since the runtime started, except ``running``,
    ``blocked`` and ``queued``, which are current. A started, unfinished task
    is either ``running`` (a worker executes it now: one per worker that is
    not blocked) or ``blocked`` (it waits for other tasks, e.g. in ``get()``)."""

    total: int
    completed: int
    running: int
    blocked: int
    queued: int
    failed: int
    cancelled: int
    timed_out: int


class Progress(ProgressTotals):
    """What :meth:`Runtime.get_progress` returns."""

    workers: List[WorkerProgress]  # the compute pool (temporary workers included)
    io_workers: List[WorkerProgress]  # the I/O pool
    callers: List[CallerProgress]  # tasks run by the threads that wait for them
    tasks: List[TaskProgress]
    tasks_truncated: bool
    errors: List[ErrorProgress]
    watchdog: WatchdogProgress
