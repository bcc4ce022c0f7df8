"""What a version registered from a run records: the producing task, its module version, the
datasets the run read (name, version, digest, classification) and the inherited classification.

The classification is the governance rule for models (``propagation.model_classification``):
the join of every column of every dataset the producing run read, joined with the
classification the engine derived for the task's output from the task's own inputs. An
unclassified column makes the model unclassified (treated as restricted).
"""

from __future__ import annotations

from typing import Any

from mlstudio.errors import InvalidInputError, NotFoundError, StateError
from mlstudio.governance.classification import Classification
from mlstudio.governance.propagation import model_classification

_OK_STATES = ("succeeded", "cached")


def model_outputs(uow: Any, run: Any) -> list[Any]:
    """The task runs of ``run`` whose output is a stored ``Model``."""
    return [t for t in uow.runs.task_runs_of(run.id) if is_model_output(t.output)]


def is_model_output(spec: Any) -> bool:
    """Is a task run's output a ``Model`` (a pickled value, not a part of one)?"""
    return (
        isinstance(spec, dict)
        and isinstance(spec.get("v"), dict)
        and spec["v"].get("type") == "Model"
        and spec["v"].get("format") == "pickle"
        and not spec.get("p")
    )


def select_model_task(uow: Any, run: Any, task: str | None) -> Any:
    """The task run whose ``Model`` output is registered: ``task`` (a task or node name), or
    the only task of the run that returned a Model."""
    rows = uow.runs.task_runs_of(run.id)
    if task is not None:
        named = [t for t in rows if t.node_id == task] or [
            t for t in rows if t.task == task and not t.node_id.endswith("[*]")
        ]
        if not named:
            raise NotFoundError(
                f"run {run.id} has no task {task!r}", hint=f"see: mlstudio runs show {run.id}"
            )
        if len(named) > 1:
            raise InvalidInputError(
                f"task {task} ran {len(named)} times in run {run.id}",
                hint="pick one by its node: --task NODE",
            )
        chosen = named[0]
    else:
        models = [t for t in rows if is_model_output(t.output)]
        if not models:
            raise InvalidInputError(
                f"run {run.id} has no task that returned a Model",
                hint="return mlstudio.Model(estimator) from the training task",
            )
        if len(models) > 1:
            nodes = ", ".join(t.node_id for t in models[:5])
            raise InvalidInputError(
                f"run {run.id} has {len(models)} tasks that returned a Model ({nodes})",
                hint="pick one: --task T",
            )
        chosen = models[0]
    if chosen.state not in _OK_STATES or not chosen.output:
        raise StateError(
            f"task {chosen.node_id} of run {run.id} has no output ({chosen.state})",
            hint=f"see: mlstudio runs logs {run.id} --task {chosen.node_id}",
        )
    if not is_model_output(chosen.output):
        shown = (chosen.output.get("v") or {}).get("type") if "v" in chosen.output else "JSON"
        raise InvalidInputError(
            f"task {chosen.node_id} of run {run.id} returned {shown or 'a value'}, not a Model",
            hint="return mlstudio.Model(estimator) from the task, or pick another: --task T",
        )
    return chosen


def tracked_metrics(uow: Any, task_run_id: int) -> tuple[str | None, dict[str, Any]]:
    """The tracked run that computed a task run's value (through a cache hit's
    ``mlstudio.produced_by``) and the latest value of each metric it logged."""
    tracked = uow.tracking.run_of_task_run(task_run_id)
    if tracked is None:
        return None, {}
    run_id = tracked["id"]
    producer = uow.tracking.tags_of([run_id]).get(run_id, {}).get("mlstudio.produced_by")
    if producer:
        run_id = producer
    latest = uow.tracking.latest_of([run_id]).get(run_id, {})
    return run_id, {key: point["value"] for key, point in sorted(latest.items())}


def run_lineage(run: Any, task_run: Any) -> tuple[dict[str, Any], Classification]:
    """(lineage, classification) of the Model output of ``task_run`` in ``run``."""
    plan = run.plan if isinstance(run.plan, dict) else {}
    nodes = {n.get("id"): n for n in plan.get("nodes", []) if isinstance(n, dict)}
    base = task_run.node_id.split("[", 1)[0]
    node = nodes.get(task_run.node_id) or nodes.get(f"{base}[*]") or nodes.get(base) or {}
    code = (plan.get("code") or {}).get(node.get("code", ""), {})
    module = f"{code['module']}@{code['version']}" if code.get("module") else code.get("path")
    datasets: list[dict[str, Any]] = []
    inputs: dict[str, dict[str, Classification]] = {}
    for key, record in sorted((plan.get("datasets") or {}).items()):
        columns = {
            c["name"]: Classification.from_dict(c.get("classification") or {})
            for c in record.get("columns") or []
        }
        inputs[key] = columns
        datasets.append(
            {
                "name": record.get("name"),
                "version": record.get("version"),
                "digest": record.get("digest"),
                "domain": record.get("domain"),
                "classification": Classification.join_all(columns.values()).spec(),
            }
        )
    artifact = task_run.output["v"]
    derived = artifact.get("classification")
    if derived:
        inputs["(task inputs)"] = {"*": Classification.from_dict(derived)}
    classification = model_classification(inputs)
    lineage = {
        "run_id": run.id,
        "workflow": run.workflow,
        "run_domain": run.domain,
        "node": task_run.node_id,
        "task": task_run.task,
        "module": module,
        "code_digest": code.get("digest"),
        "datasets": datasets,
        "metrics": {},
        "params": run.params if isinstance(run.params, dict) else {},
        "trained_by": run.created_by,
    }
    return lineage, classification
