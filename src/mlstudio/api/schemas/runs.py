"""Runs, run triggers and the cache."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstudio.api.schemas.common import MAX_DAYS, In, Out
from mlstudio.workflows.options import RunOptions


class RunOut(Out):
    id: str
    workflow: str
    namespace: str | None
    state: str
    params: dict[str, Any]
    domain: str
    trigger: str
    executor: str
    created_by: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    priority: int
    duration_s: float | int | None  # int | float: a number passes through as it came


class RunCostOut(Out):
    spent_usd: float = Field(description="USD its model calls spent so far")
    reserved_usd: float = Field(description="USD reserved by batches now running")
    estimate_to_finish_usd: float = Field(
        description="Items still to compute at each task's average cost per item so far"
    )


class RunListItem(RunOut):
    cost: RunCostOut | None = Field(None, description="What its model calls cost, if any")
    engine_alive: bool | None = Field(
        None, description="A running run: is its engine alive (process or heartbeat)?"
    )
    engine_note: str | None = Field(None, description="A dead engine: what happened, the fix")
    tasks: dict[str, int] = Field(description="Task runs by state")


class RunShowOut(RunOut):
    engine_alive: bool | None = Field(
        None, description="A running run: is its engine alive (process or heartbeat)?"
    )
    engine_note: str | None = Field(None, description="A dead engine: what happened, the fix")
    lock: dict[str, Any] = Field(description="Resolved module versions")
    output_value: Any = None
    tasks: list[dict[str, Any]]
    pinned: dict[str, Any] | None = Field(None, description="The pin (reason, by, at), if any")
    triggered_by: dict[str, Any] | None = Field(
        None, description="What started it (a monitor and its alert), if not a person"
    )
    cost: RunCostOut | None = Field(None, description="What its model calls cost, if any")


class OutputOut(Out):
    """What ``GET /runs/{id}/output`` sent (in its ``X-Mlstudio-Output`` header)."""

    run: str
    node: str | None = Field(description="The task's node; null for the workflow's output")
    task: str | None
    kind: str = Field(description="table | json | pickle")
    type: str
    format: str = Field(description="csv | parquet | json | pickle")
    file: str
    size_bytes: int
    rows: int | None
    columns: list[str] | None
    domain: str = Field(description="The domain it was read under")


class PinIn(In):
    reason: str = Field("", description="Why the run is kept")


class PinOut(Out):
    run: str
    pinned: bool
    changed: bool
    reason: str | None
    pinned_by: str | None
    pinned_at: str | None


class LogEntry(Out):
    """One attempt's output; ``note`` (only when it has none) says why, e.g. it never
    started."""

    node: str
    attempt: int
    text: str
    state: str = Field(description='The attempt\'s state ("retried": a later one followed)')


class TaskStateOut(Out):
    node: str
    state: str
    cache_hit: bool


class RunStatesOut(Out):
    """A run's state and each task's (``runs.states``)."""

    id: str
    state: str
    tasks: list[TaskStateOut]


class LogTailOut(Out):
    """What the run's attempts printed since ``cursor``; poll again with the returned
    ``cursor`` until ``done``."""

    run: str = Field(description="The run's state")
    entries: list[LogEntry] = Field(description="Attempts with new text (or a note), in order")
    cursor: str = Field(description="Pass it as ?cursor= to get what comes next")
    done: bool = Field(description="Everything followed ended and all its output was returned")


class RunRequest(In):
    """Start a run of a pushed workflow (``NS/MODULE/WORKFLOW[:TAG|@N]``) on the server's
    workers (the ``queue`` executor)."""

    params: dict[str, Any] = Field(default_factory=dict, description="Workflow parameters")
    domain: str = "experimentation"
    priority: int = Field(0, ge=-1000, le=1000, description="Higher is served first")
    pool: str | None = Field(None, description="Worker pool of its tasks (default: default)")
    preemptible: bool = Field(False, description="Its tasks give way to higher priorities")
    experiment: str | None = Field(
        None, max_length=256, description="Tracking experiment (default: the workflow's name)"
    )
    no_cache: bool = False
    fail_fast: bool = False

    def options(self) -> RunOptions:
        return RunOptions(
            domain=self.domain,
            no_cache=self.no_cache,
            fail_fast=self.fail_fast,
            pool=self.pool,
            priority=self.priority,
            preemptible=self.preemptible,
            experiment=self.experiment,
        )


class CloneRequest(In):
    params: dict[str, Any] = Field(default_factory=dict, description="Changed parameters")
    no_cache: bool = False


class CacheStatsOut(Out):
    hits: int
    misses: int
    hit_ratio: float | int
    saved_s: float | int
    entries: int
    per_workflow: dict[str, dict[str, Any]]


class CacheClearIn(In):
    workflow: str | None = Field(None, description="Only entries of this workflow (prefix)")
    task: str | None = None
    older_than_days: float | None = Field(
        None,
        strict=True,
        json_schema_extra={"minimum": 0, "maximum": MAX_DAYS},  # checked by the service
        description="Only entries older than this many days",
    )


class CacheClearOut(Out):
    removed: int
