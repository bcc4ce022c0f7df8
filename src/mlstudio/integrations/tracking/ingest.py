"""The engine side of native tracking: a subscriber of ``TaskTracked`` that writes one tracked
run per finished task run, in the transaction of the task's final state.

Recorded without any call from the task: params (the task's JSON inputs), code (module,
version, digest), domain, duration, attempt and whether it was a cache hit; then what the task
logged (:mod:`mlstudio.workflows.logged`). A cache hit logs nothing again: ``produced_by``
names the tracked run that computed the value.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Sequence
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
# Per workflow run (ids are unique across databases): the experiments its steps already
# resolved (("", "") stands for ``Default``), so a 100-step chain looks them up once, not 100
# times. Only experiments that existed before a step's transaction are remembered. Bounded.
_RESOLVED: OrderedDict[str, dict[tuple[str, str], int]] = OrderedDict()
_RESOLVED_RUNS = 256


def on_tasks_tracked(uow: Any, events: Sequence[Event]) -> None:
    """The tracked runs of one engine step's finished task runs, in a few statements: one
    insert each for the runs, their params and their tags, whatever the number of tasks (an
    engine step of a 1,000-task fan-out used to cost ~8 statements per task here)."""
    tracked = [e for e in events if isinstance(e, TaskTracked)]
    if not tracked:
        return
    experiments: dict[tuple[str, str], int] = {}
    users: set[str] = set()
    runs: list[dict[str, Any]] = []
    param_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    logged_of: list[tuple[str, dict[str, Any]]] = []
    producers = _producers(uow, tracked)
    for event in tracked:
        facts = dict(event.facts)
        user = facts.get("user") or "unknown"
        if user not in users:
            _ensure_default(uow, event.run_id, user)
            users.add(user)
        experiment = (
            str(facts.get("experiment") or facts.get("workflow") or "Default")[:256],
            user,
        )
        if experiment not in experiments:
            experiments[experiment] = _experiment_id(uow, event.run_id, *experiment)
        run_id = new_run_id()
        state = str(event.state)
        cached = state == "cached"
        end = int((facts.get("finished_at") or 0) * 1000) or now_ms()
        start = int((facts.get("started_at") or 0) * 1000) or end
        produced_by = producers.get(event.task_run_id) if cached else None
        runs.append(
            {
                "id": run_id,
                "experiment_id": experiments[experiment],
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
        )
        params, tags = _params_and_tags(event, facts, user, cached, produced_by)
        param_rows += [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()]
        tag_rows += [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
        logged = facts.get("logged") or {}
        if logged.get("metrics") or logged.get("artifacts"):
            logged_of.append((run_id, logged))
    uow.tracking.create_runs(runs)
    uow.tracking.insert_param_rows(param_rows)
    uow.tracking.insert_tag_rows(tag_rows)  # new runs: no tag to replace
    for run_id, logged in logged_of:
        points = [
            (key, metric_value(value), int(step), int(ts))
            for key, value, step, ts in logged.get("metrics") or []
        ]
        uow.tracking.log_metrics(run_id, points)
        files = [(p, d, int(s)) for p, d, s in logged.get("artifacts") or [] if isinstance(d, str)]
        uow.tracking.put_artifacts(run_id, files)


def _ensure_default(uow: Any, run_id: str, user: str) -> None:
    """``ensure_default``, skipped for the rest of the run once it found ``Default`` existing."""
    known = _RESOLVED.get(run_id)
    if known is not None and ("", "") in known:
        return
    if uow.tracking.experiment(0) is None:
        ensure_default(uow, user)
    else:
        _remember(run_id, ("", ""), 0)


def _remember(run_id: str, key: tuple[str, str], experiment_id: int) -> None:
    known = _RESOLVED.get(run_id)
    if known is None:
        known = _RESOLVED[run_id] = {}
        while len(_RESOLVED) > _RESOLVED_RUNS:
            _RESOLVED.popitem(last=False)
    known[key] = experiment_id


def _experiment_id(uow: Any, run_id: str, name: str, user: str) -> int:
    """``experiment_id_for``, remembered for the rest of the workflow run once the experiment
    is known to exist before this transaction (one made here could still be rolled back)."""
    known = _RESOLVED.get(run_id)
    if known is not None and (name, user) in known:
        _RESOLVED.move_to_end(run_id)
        return known[(name, user)]
    existed = uow.tracking.experiment_by_name(name) is not None
    found = experiment_id_for(uow, name, user)
    if existed:
        _remember(run_id, (name, user), found)
    return found


def _producers(uow: Any, tracked: Sequence[TaskTracked]) -> dict[int, str]:
    """task-run id of each cache hit -> the tracked run that computed its value."""
    wanted: dict[int, tuple[str, str]] = {}
    for event in tracked:
        facts = event.facts
        if str(event.state) == "cached" and facts.get("source_run") and facts.get("cache_key"):
            wanted[event.task_run_id] = (str(facts["source_run"]), str(facts["cache_key"]))
    if not wanted:
        return {}
    found = uow.tracking.producers_of(list(set(wanted.values())))
    return {trid: found[pair] for trid, pair in wanted.items() if pair in found}


def _params_and_tags(
    event: TaskTracked, facts: dict[str, Any], user: str, cached: bool, produced_by: str | None
) -> tuple[dict[str, str], dict[str, str]]:
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
    return params, tags


def _input_params(inputs: dict[str, Any]) -> dict[str, str]:
    """The task's inputs that are JSON constants (not datasets or other tasks' outputs)."""
    out: dict[str, str] = {}
    for name, spec in inputs.items():
        if not isinstance(spec, dict) or "c" not in spec:
            continue
        with contextlib.suppress(InvalidInputError):
            out[validate_key(name, "param")] = param_value(spec["c"])
    return out


__all__ = ["on_tasks_tracked", "validate_artifact_path"]
