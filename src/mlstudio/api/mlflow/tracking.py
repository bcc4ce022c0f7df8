"""MLflow tracking endpoints (``/api/2.0/mlflow/...``) over the one tracking store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from mlstudio.api.deps import Actor, PlatformDep
from mlstudio.api.mlflow.errors import MlflowRoute
from mlstudio.core.tracking import json_number
from mlstudio.errors import InvalidInputError

router = APIRouter(prefix="/api/2.0/mlflow", route_class=MlflowRoute)
AJAX = "/ajax-api/2.0/mlflow"


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    import json

    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidInputError(f"malformed JSON body: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError("the body must be a JSON object")
    return data


def _need(body: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if body.get(key) not in (None, ""):
            return body[key]
    raise InvalidInputError(f"missing value for required parameter '{keys[0]}'")


def _pairs(items: Any) -> dict[str, Any]:
    if not items:
        return {}
    if not isinstance(items, list):
        raise InvalidInputError("tags and params are lists of {key, value}")
    return {str(i.get("key")): i.get("value") for i in items if isinstance(i, dict)}


def experiment_proto(exp: dict[str, Any]) -> dict[str, Any]:
    return {
        "experiment_id": str(exp["id"]),
        "name": exp["name"],
        "artifact_location": f"mlflow-artifacts:/{exp['id']}",
        "lifecycle_stage": exp["lifecycle_stage"],
        "creation_time": exp.get("creation_time") or 0,
        "last_update_time": exp.get("last_update_time") or 0,
        "tags": [{"key": k, "value": v} for k, v in (exp.get("tags") or {}).items()],
    }


def run_info(run: dict[str, Any]) -> dict[str, Any]:
    info = {
        "run_id": run["id"],
        "run_uuid": run["id"],
        "run_name": run["name"] or "",
        "experiment_id": str(run["experiment_id"]),
        "user_id": run["user"] or "",
        "status": run["status"],
        "start_time": int(run["start_time"] or 0),
        "artifact_uri": f"mlflow-artifacts:/{run['experiment_id']}/{run['id']}/artifacts",
        "lifecycle_stage": run["lifecycle_stage"],
    }
    if run.get("end_time"):
        info["end_time"] = int(run["end_time"])
    return info


def run_proto(run: dict[str, Any]) -> dict[str, Any]:
    metrics = [
        {
            "key": m["key"],
            "value": json_number(m["value"]),
            "timestamp": m["timestamp"],
            "step": m["step"],
        }
        for m in run["metrics"].values()
    ]
    return {
        "info": run_info(run),
        "data": {
            "metrics": metrics,
            "params": [{"key": k, "value": v} for k, v in run["params"].items()],
            "tags": [{"key": k, "value": v} for k, v in run["tags"].items()],
        },
        "inputs": {},
    }


# --- experiments ------------------------------------------------------------------------------
@router.post("/experiments/create")
async def create_experiment(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    name = _need(body, "name")
    tags = _pairs(body.get("tags"))
    exp = await run_in_threadpool(platform.tracking.create_experiment, actor, name, tags)
    return {"experiment_id": exp["id"]}


@router.get("/experiments/get")
async def get_experiment(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    ref = _need(dict(request.query_params), "experiment_id")
    exp = await run_in_threadpool(platform.tracking.get_experiment, ref, by="id")
    return {"experiment": experiment_proto(exp)}


@router.get("/experiments/get-by-name")
async def get_experiment_by_name(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    name = _need(dict(request.query_params), "experiment_name")
    exp = await run_in_threadpool(platform.tracking.get_experiment, name, by="name")
    return {"experiment": experiment_proto(exp)}


@router.api_route("/experiments/search", methods=["GET", "POST"])
async def search_experiments(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request) if request.method == "POST" else dict(request.query_params)
    view = str(body.get("view_type") or "ACTIVE_ONLY")
    found = await run_in_threadpool(
        platform.tracking.list_experiments, include_deleted=view != "ACTIVE_ONLY"
    )
    if view == "DELETED_ONLY":
        found = [e for e in found if e["lifecycle_stage"] == "deleted"]
    text = str(body.get("filter") or "").strip()
    if text:
        from mlstudio.integrations.tracking.search import parse_filter

        for clause in parse_filter(text.replace("name", "attributes.name", 1)):
            if clause.op in ("=", "!="):
                found = [e for e in found if (e["name"] == clause.value) == (clause.op == "=")]
    limit = int(body.get("max_results") or 1000)
    return {"experiments": [experiment_proto(e) for e in found[:limit]]}


@router.post("/experiments/delete")
async def delete_experiment(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    exp_id = str(_need(body, "experiment_id"))
    if not exp_id.isdigit():
        raise InvalidInputError(f"invalid experiment id {exp_id!r}")
    await run_in_threadpool(platform.tracking.set_experiment_state, actor, int(exp_id), "deleted")
    return {}


# --- runs -------------------------------------------------------------------------------------
@router.post("/runs/create")
async def create_run(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    run = await run_in_threadpool(
        lambda: platform.tracking.create_run(
            actor,
            body.get("experiment_id") or "0",
            name=body.get("run_name"),
            start_time=body.get("start_time"),
            tags=_pairs(body.get("tags")),
        )
    )
    return {"run": run_proto(run)}


@router.get("/runs/get")
async def get_run(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    run_id = _need(dict(request.query_params), "run_id", "run_uuid")
    return {"run": run_proto(await run_in_threadpool(platform.tracking.get_run, run_id))}


@router.post("/runs/update")
async def update_run(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    run_id = _need(body, "run_id", "run_uuid")
    run = await run_in_threadpool(
        lambda: platform.tracking.update_run(
            actor,
            run_id,
            status=body.get("status"),
            end_time=body.get("end_time"),
            name=body.get("run_name"),
        )
    )
    return {"run_info": run_info(run)}


@router.post("/runs/delete")
async def delete_run(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    run_id = _need(await _body(request), "run_id")
    await run_in_threadpool(platform.tracking.set_lifecycle, actor, run_id, "deleted")
    return {}


@router.post("/runs/restore")
async def restore_run(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    run_id = _need(await _body(request), "run_id")
    await run_in_threadpool(platform.tracking.set_lifecycle, actor, run_id, "active")
    return {}


@router.post("/runs/search")
async def search_runs(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    token = str(body.get("page_token") or "0")
    if not token.isdigit():
        raise InvalidInputError(f"invalid page_token {token!r}")
    view = str(body.get("run_view_type") or "ACTIVE_ONLY")
    runs, more = await run_in_threadpool(
        lambda: platform.tracking.search(
            filter=body.get("filter") or None,
            order_by=list(body.get("order_by") or []) or None,
            experiments=[str(e) for e in body.get("experiment_ids") or []] or None,
            limit=int(body.get("max_results") or 1000),
            offset=int(token),
            include_deleted=view != "ACTIVE_ONLY",
        )
    )
    out: dict[str, Any] = {"runs": [run_proto(r) for r in runs]}
    if more is not None:
        out["next_page_token"] = str(more)
    return out


@router.post("/runs/log-parameter")
async def log_parameter(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    run_id = _need(body, "run_id", "run_uuid")
    params = {_need(body, "key"): body.get("value")}
    await run_in_threadpool(lambda: platform.tracking.log_batch(actor, run_id, params=params))
    return {}


@router.post("/runs/log-metric")
async def log_metric(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    run_id = _need(body, "run_id", "run_uuid")
    point = (_need(body, "key"), body.get("value"), body.get("step"), body.get("timestamp"))
    await run_in_threadpool(lambda: platform.tracking.log_batch(actor, run_id, metrics=[point]))
    return {}


@router.post("/runs/set-tag")
async def set_tag(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    run_id = _need(body, "run_id", "run_uuid")
    tags = {_need(body, "key"): body.get("value")}
    await run_in_threadpool(lambda: platform.tracking.log_batch(actor, run_id, tags=tags))
    return {}


@router.post("/runs/delete-tag")
async def delete_tag(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    run_id, key = _need(body, "run_id"), _need(body, "key")
    await run_in_threadpool(platform.tracking.delete_tag, actor, run_id, key)
    return {}


@router.post("/runs/log-batch")
async def log_batch(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    run_id = _need(body, "run_id")
    metrics = [
        (m.get("key"), m.get("value"), m.get("step"), m.get("timestamp"))
        for m in body.get("metrics") or []
        if isinstance(m, dict)
    ]
    params, tags = _pairs(body.get("params")), _pairs(body.get("tags"))
    await run_in_threadpool(
        lambda: platform.tracking.log_batch(
            actor, run_id, metrics=metrics, params=params, tags=tags
        )
    )
    return {}


@router.post("/runs/log-inputs")
@router.post("/runs/outputs")
async def log_inputs(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    """Datasets and model outputs: accepted for a run that exists (not stored yet)."""
    run_id = _need(await _body(request), "run_id")
    await run_in_threadpool(platform.tracking.get_run, run_id)
    return {}


@router.get("/metrics/get-history")
async def metric_history(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    query = dict(request.query_params)
    run_id, key = _need(query, "run_id", "run_uuid"), _need(query, "metric_key")
    points = await run_in_threadpool(platform.tracking.history, run_id, key)
    return {"metrics": [{**p, "value": json_number(p["value"])} for p in points]}
