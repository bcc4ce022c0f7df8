"""The engine side of native tracking: a subscriber of ``TaskTracked`` that writes one tracked
run per finished task run, in the transaction of the task's final state.

Recorded without any call from the task: params (the task's JSON inputs), code (module,
version, digest), domain, duration, attempt and whether it was a cache hit; then what the task
logged (:mod:`mlstudio.workflows.logged`). A cache hit logs nothing again: ``produced_by``
names the tracked run that computed the value.
"""

from __future__ import annotations

import contextlib
from typing import Any

from mlstudio.core.events import Event, TaskTracked
from mlstudio.core.tracking import metric_value, param_value, validate_artifact_path, validate_key
from mlstudio.errors import InvalidInputError
from mlstudio.integrations.tracking.service import (
    ensure_default,
    experiment_id_for,
    new_run_id,
    now_ms,
)

_STATUS = {"succeeded": "FINISHED", "cached": "FINISHED", "failed": "FAILED"}


def on_task_tracked(uow: Any, event: Event) -> None:
    if not isinstance(event, TaskTracked):
        return
    facts = dict(event.facts)
    user = facts.get("user") or "unknown"
    ensure_default(uow, user)
    experiment = facts.get("experiment") or facts.get("workflow") or "Default"
    exp_id = experiment_id_for(uow, str(experiment)[:256], user)
    run_id = new_run_id()
    state = str(event.state)
    cached = state == "cached"
    end = int((facts.get("finished_at") or 0) * 1000) or now_ms()
    start = int((facts.get("started_at") or 0) * 1000) or end
    produced_by = None
    if cached and facts.get("source_run") and facts.get("cache_key"):
        produced_by = uow.tracking.producer_of(facts["source_run"], facts["cache_key"])
    uow.tracking.create_runs(
        [
            {
                "id": run_id,
                "experiment_id": exp_id,
                "name": event.node_id[:256],
                "user": user,
                "status": _STATUS.get(state, "FAILED"),
                "start_time": start,
                "end_time": end,
                "lifecycle_stage": "active",
                "source": "task",
                "workflow_run_id": event.run_id,
                "node_id": event.node_id,
                "task_run_id": event.task_run_id,
                "domain": facts.get("domain"),
                "cache_hit": cached,
                "cache_key": facts.get("cache_key"),
                "produced_by": produced_by,
                "duration_s": facts.get("duration_s"),
            }
        ]
    )
    params = _input_params(facts.get("inputs") or {})
    logged = facts.get("logged") or {}
    tags = {
        "mlflow.runName": event.node_id,
        "mlflow.user": user,
        "mlstudio.workflow": str(facts.get("workflow") or ""),
        "mlstudio.workflow_run": event.run_id,
        "mlstudio.task": event.task,
        "mlstudio.node": event.node_id,
        "mlstudio.domain": str(facts.get("domain") or ""),
        "mlstudio.attempt": str(facts.get("attempt") or 0),
        "mlstudio.cache_hit": "true" if cached else "false",
    }
    for key in ("module", "version", "digest"):
        if facts.get(key) is not None:
            tags[f"mlstudio.code.{key}"] = str(facts[key])
    if produced_by:
        tags["mlstudio.produced_by"] = produced_by
    if facts.get("error"):
        tags["mlstudio.error"] = str(facts["error"])[:2000]
    for key, value in (logged.get("params") or {}).items():
        if key in params and params[key] != value:
            tags[f"mlstudio.refused_param.{key}"[:250]] = str(value)[:2000]
        else:
            params[key] = value
    tags.update(logged.get("tags") or {})
    uow.tracking.insert_params(run_id, params)
    uow.tracking.set_tags(run_id, tags)
    points = []
    for key, value, step, ts in logged.get("metrics") or []:
        points.append((key, metric_value(value), int(step), int(ts)))
    uow.tracking.log_metrics(run_id, points)
    files = [(p, d, int(s)) for p, d, s in logged.get("artifacts") or [] if isinstance(d, str)]
    uow.tracking.put_artifacts(run_id, files)


def _input_params(inputs: dict[str, Any]) -> dict[str, str]:
    """The task's inputs that are JSON constants (not datasets or other tasks' outputs)."""
    out: dict[str, str] = {}
    for name, spec in inputs.items():
        if not isinstance(spec, dict) or "c" not in spec:
            continue
        with contextlib.suppress(InvalidInputError):
            out[validate_key(name, "param")] = param_value(spec["c"])
    return out


__all__ = ["on_task_tracked", "validate_artifact_path"]
