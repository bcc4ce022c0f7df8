"""Run and task-run records as the repository returns them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlstudio.core.states import (  # noqa: F401  (re-exported: the states' old home)
    RUN_ACTIVE,
    RUN_TERMINAL,
    TASK_BAD,
    TASK_OK,
    TASK_TERMINAL,
    RunState,
    TaskState,
)
from mlstudio.modules.records import _jsonable


@dataclass(frozen=True)
class RunRecord:
    id: str
    workflow: str
    namespace: str | None
    state: RunState
    params: dict[str, Any]
    plan: dict[str, Any]
    lock: dict[str, Any]
    domain: str
    trigger: str
    executor: str
    no_cache: bool
    fail_fast: bool
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    output: dict[str, Any] | None
    cancel_requested: bool
    engine_id: str | None
    heartbeat_at: datetime | None
    parent_run_id: str | None
    priority: int

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def summary(self) -> dict[str, Any]:
        out = _jsonable(self)
        for key in ("plan", "lock"):
            out.pop(key)
        out["duration_s"] = self.duration_s
        return out


@dataclass(frozen=True)
class TaskRunRecord:
    id: int
    run_id: str
    node_id: str
    task: str
    module: str | None
    state: TaskState
    attempt: int
    max_attempts: int
    cache_key: str | None
    cache_hit: bool
    cache_components: dict[str, Any] | None
    output: dict[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    not_before: datetime | None
    error: str | None
    traceback: str | None
    logs: list[dict[str, Any]] | None
    parent_node: str | None
    read_set: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)
