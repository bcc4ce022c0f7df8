"""MLflow tracking endpoints (``/api/2.0/mlflow/...``) over ``TrackingService``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from mlstudio.api.deps import StudioDep
from mlstudio.api.mlflow.errors import from_mlstudio, mlflow_error
from mlstudio.core.tracking import json_number
from mlstudio.errors import InvalidInputError, MlstudioError

P = "/api/2.0/mlflow"
router = APIRouter()
fallback = APIRouter()


def _call(fn: Any) -> Any:
    try:
        return fn()
    except MlstudioError as exc:
        return from_mlstudio(exc)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except Exception:
        data = {}
    return data if isinstance(data, dict) else {}


def _run_json(run: dict[str, Any]) -> dict[str, Any]:
    exp = run["experiment_id"]
    return {
        "info": {
            "run_id": run["id"],
            "run_uuid": run["id"],
            "experiment_id": exp,
            "run_name": run["name"],
            "user_id": run["user"],
            "status": run["status"],
            "start_time": run["start_time"],
            "end_time": run["end_time"],
            "artifact_uri": f"mlflow-artifacts:/{exp}/{run['id']}/artifacts",
            "lifecycle_stage": run["lifecycle_stage"],
        },
        "data": {
            "metrics": [{**m, "value": json_number(m["value"])} for m in run["metrics"].values()],
            "params": [{"key": k, "value": v} for k, v in run["params"].items()],
            "tags": [{"key": k, "value": v} for k, v in run["tags"].items()],
        },
    }


def _exp_json(exp: dict[str, Any]) -> dict[str, Any]:
    return {
        "experiment_id": exp["id"],
        "name": exp["name"],
        "artifact_location": f"mlflow-artifacts:/{exp['id']}",
        "lifecycle_stage": exp["lifecycle_stage"],
        "creation_time": exp["creation_time"],
        "last_update_time": exp["last_update_time"],
        "tags": [{"key": k, "value": v} for k, v in (exp.get("tags") or {}).items()],
    }


def _run_id(data: dict[str, Any]) -> str:
    run_id = data.get("run_id") or data.get("run_uuid")
    if not run_id:
        raise InvalidInputError("missing run_id")
    return str(run_id)


@router.post(f"{P}/experiments/create")
async def create_experiment(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    tags = {t["key"]: t["value"] for t in data.get("tags") or []}
    service = studio.platform.tracking
    return _call(
        lambda: {
            "experiment_id": service.create_experiment(studio.actor, data.get("name"), tags)["id"]
        }
    )


@router.get(f"{P}/experiments/get")
def get_experiment(experiment_id: str, studio: StudioDep) -> Any:
    service = studio.platform.tracking
    return _call(lambda: {"experiment": _exp_json(service.get_experiment(experiment_id, by="id"))})


@router.get(f"{P}/experiments/get-by-name")
def get_experiment_by_name(experiment_name: str, studio: StudioDep) -> Any:
    service = studio.platform.tracking
    return _call(
        lambda: {"experiment": _exp_json(service.get_experiment(experiment_name, by="name"))}
    )


@router.post(f"{P}/experiments/search")
async def search_experiments(request: Request, studio: StudioDep) -> Any:
    """Filter (``name LIKE …``, ``tags.K = …``, times), view type, order_by and pages."""
    from mlstudio.integrations.tracking.experiment_search import search

    data = await _body(request)

    def work() -> dict[str, Any]:
        exps = studio.platform.tracking.list_experiments(include_deleted=True)
        page, token = search(
            exps,
            filter_string=data.get("filter"),
            view_type=data.get("view_type"),
            order_by=data.get("order_by"),
            max_results=data.get("max_results"),
            page_token=data.get("page_token"),
        )
        out: dict[str, Any] = {"experiments": [_exp_json(e) for e in page]}
        if token:
            out["next_page_token"] = token
        return out

    return _call(work)


def _experiment_id(data: dict[str, Any]) -> int:
    value = str(data.get("experiment_id") or "")
    if not value.isdigit():
        raise InvalidInputError(f"invalid experiment_id {value!r}", hint="a numeric experiment id")
    return int(value)


@router.post(f"{P}/experiments/delete")
async def delete_experiment(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    service = studio.platform.tracking
    return _call(
        lambda: service.set_experiment_state(studio.actor, _experiment_id(data), "deleted") or {}
    )


@router.post(f"{P}/experiments/restore")
async def restore_experiment(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    service = studio.platform.tracking
    return _call(
        lambda: service.set_experiment_state(studio.actor, _experiment_id(data), "active") or {}
    )


@router.post(f"{P}/experiments/update")
async def update_experiment(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    service = studio.platform.tracking
    return _call(
        lambda: (
            service.update_experiment(studio.actor, _experiment_id(data), name=data.get("new_name"))
            or {}
        )
    )


@router.post(f"{P}/experiments/set-experiment-tag")
async def set_experiment_tag(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    service = studio.platform.tracking

    def work() -> dict[str, Any]:
        if not data.get("key"):
            raise InvalidInputError("missing key", hint="set-experiment-tag needs key and value")
        tags = {str(data["key"]): str(data.get("value") or "")}
        service.update_experiment(studio.actor, _experiment_id(data), tags=tags)
        return {}

    return _call(work)


@router.post(f"{P}/runs/create")
async def create_run(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    tags = {t["key"]: t["value"] for t in data.get("tags") or []}
    service = studio.platform.tracking
    return _call(
        lambda: {
            "run": _run_json(
                service.create_run(
                    studio.actor,
                    data.get("experiment_id") or "0",
                    name=data.get("run_name"),
                    start_time=data.get("start_time"),
                    tags=tags,
                )
            )
        }
    )


@router.get(f"{P}/runs/get")
def get_run(studio: StudioDep, run_id: str | None = None, run_uuid: str | None = None) -> Any:
    service = studio.platform.tracking
    return _call(lambda: {"run": _run_json(service.get_run(run_id or run_uuid or ""))})


@router.post(f"{P}/runs/update")
async def update_run(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    service = studio.platform.tracking
    return _call(
        lambda: {
            "run_info": _run_json(
                service.update_run(
                    studio.actor,
                    _run_id(data),
                    status=data.get("status"),
                    end_time=data.get("end_time"),
                    name=data.get("run_name"),
                )
            )["info"]
        }
    )


@router.post(f"{P}/runs/delete")
async def delete_run(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    service = studio.platform.tracking
    return _call(lambda: service.set_lifecycle(studio.actor, _run_id(data), "deleted") or {})


@router.post(f"{P}/runs/log-parameter")
async def log_parameter(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    service = studio.platform.tracking
    return _call(
        lambda: (
            service.log_batch(
                studio.actor, _run_id(data), params={data.get("key"): data.get("value")}
            )
            or {}
        )
    )


@router.post(f"{P}/runs/log-metric")
async def log_metric(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    point = (data.get("key"), data.get("value"), data.get("step"), data.get("timestamp"))
    service = studio.platform.tracking
    return _call(lambda: service.log_batch(studio.actor, _run_id(data), metrics=[point]) or {})


@router.post(f"{P}/runs/set-tag")
async def set_tag(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    service = studio.platform.tracking
    return _call(
        lambda: (
            service.log_batch(
                studio.actor, _run_id(data), tags={data.get("key"): data.get("value")}
            )
            or {}
        )
    )


@router.post(f"{P}/runs/log-batch")
async def log_batch(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    metrics = [
        (m.get("key"), m.get("value"), m.get("step"), m.get("timestamp"))
        for m in data.get("metrics") or []
    ]
    params = {p.get("key"): p.get("value") for p in data.get("params") or []}
    tags = {t.get("key"): t.get("value") for t in data.get("tags") or []}
    service = studio.platform.tracking
    return _call(
        lambda: (
            service.log_batch(
                studio.actor, _run_id(data), metrics=metrics, params=params, tags=tags
            )
            or {}
        )
    )


@router.post(f"{P}/runs/search")
async def search_runs(request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    offset = int(data.get("page_token") or 0) if str(data.get("page_token") or "0").isdigit() else 0
    service = studio.platform.tracking

    def work() -> dict[str, Any]:
        runs, more = service.search(
            filter=data.get("filter"),
            order_by=data.get("order_by") or None,
            experiments=data.get("experiment_ids") or None,
            limit=int(data.get("max_results") or 1000),
            offset=offset,
        )
        out: dict[str, Any] = {"runs": [_run_json(r) for r in runs]}
        if more is not None:
            out["next_page_token"] = str(more)
        return out

    return _call(work)


@router.get(f"{P}/metrics/get-history")
def metric_history(
    studio: StudioDep, metric_key: str, run_id: str | None = None, run_uuid: str | None = None
) -> Any:
    service = studio.platform.tracking
    return _call(
        lambda: {
            "metrics": [
                {**p, "value": json_number(p["value"])}
                for p in service.history(run_id or run_uuid or "", metric_key)
            ]
        }
    )


@fallback.api_route(
    "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
def unknown_endpoint(path: str, studio: StudioDep) -> JSONResponse:
    return mlflow_error("ENDPOINT_NOT_FOUND", f"no MLflow endpoint /mlflow/{path}", 404)
