"""The facts of a finished task run that experiment tracking keeps (a subscriber stores them in
the engine step's transaction; a cache hit carries no logged values, only its source run)."""

from __future__ import annotations

from typing import Any

from mlstudio.core.events import TaskTracked
from mlstudio.core.states import TaskState
from mlstudio.workflows.engine_state import _State
from mlstudio.workflows.executors.base import TaskResult


def tracked(
    run: Any,
    s: _State,
    state: TaskState,
    duration: float | None,
    result: TaskResult | None,
    plan_code: dict[str, Any] | None,
    source_run: str | None = None,
) -> TaskTracked:
    """The ``TaskTracked`` event of ``s`` (``plan_code``: the plan's code entries; a hit's
    ``source_run`` produced the values it reuses)."""
    code = (plan_code or {}).get(s.node.code, {})
    facts = {
        "workflow": run.workflow,
        "domain": run.domain,
        "user": run.created_by,
        "experiment": (run.plan or {}).get("experiment"),
        "inputs": s.inputs or {},
        "module": code.get("module"),
        "version": code.get("version"),
        "digest": code.get("digest"),
        "attempt": s.attempt,
        "duration_s": duration,
        "cache_key": s.cache_key,
        "source_run": source_run,
        "started_at": result.started_at if result is not None else None,
        "finished_at": result.finished_at if result is not None else None,
        "logged": (result.extra.get("tracking") if result is not None else None),
        "error": (result.error if result is not None and not result.ok else None),
        "register": s.node.options.get("register"),
        "register_alias": s.node.options.get("register_alias"),
    }
    return TaskTracked(run.id, s.id, s.node.id, s.node.task, state, facts)
