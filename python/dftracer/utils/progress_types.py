"""Typed shape of :meth:`Runtime.get_progress`'s result."""

from __future__ import annotations

from typing import List, TypedDict

__all__ = ["Progress", "ProgressTotals", "WorkerProgress", "TaskProgress", "ErrorProgress", "WatchdogProgress"]


class WorkerProgress(TypedDict):
    """One worker thread of the compute or I/O pool."""

    id: int
    pool: str  # "compute" or "io"
    idle: bool  # no submitted task running on it
    task: str  # name of the task it runs, "" when idle
    queue_depth: int  # items in its own deque
    state: str  # idle, running, parked, blocked
    tasks_run: int
    temporary: bool  # added while other workers were blocked
    busy_ms: float  # how long the current task has run


class TaskProgress(TypedDict):
    """A live task, or one of the recently finished ones."""

    task_id: int
    name: str
    state: str  # queued, running, completed, failed, cancelled, timed_out
    queued_duration_ms: float
    execution_duration_ms: float
    progress_pct: float
    total_subtasks: int
    completed_subtasks: int


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
    """Task counts: cumulative since the runtime started, except ``running``
    and ``queued``, which are current."""

    total: int
    completed: int
    running: int
    queued: int
    failed: int
    cancelled: int
    timed_out: int


class Progress(ProgressTotals):
    """What :meth:`Runtime.get_progress` returns."""

    workers: List[WorkerProgress]
    tasks: List[TaskProgress]
    tasks_truncated: bool
    errors: List[ErrorProgress]
    watchdog: WatchdogProgress
