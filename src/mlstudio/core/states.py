"""The states of runs, task runs and task results (pure: no I/O, no imports of mlstudio).

They are ``StrEnum``s: a member *is* its string (``TaskState.RUNNING == "running"``), so it is
stored, serialized to JSON and compared with plain strings as before.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    CACHED = "cached"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class ResultStatus(StrEnum):
    """How one attempt of a task ended, as an executor reports it."""

    OK = "ok"
    ERROR = "error"
    DENIED = "denied"  # its output may not be written in the run's domain
    TIMEOUT = "timeout"
    CRASHED = "crashed"  # its worker process died
    LOST = "lost"  # its worker's lease expired (the queue)
    CANCELLED = "cancelled"


RUN_ACTIVE = (RunState.QUEUED, RunState.RUNNING, RunState.CANCELLING)
RUN_TERMINAL = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)
TASK_OK = (TaskState.SUCCEEDED, TaskState.CACHED)
TASK_BAD = (TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.CANCELLED)
TASK_TERMINAL = (*TASK_OK, *TASK_BAD, TaskState.SKIPPED)
