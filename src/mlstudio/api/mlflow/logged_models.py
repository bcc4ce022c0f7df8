"""MLflow 3 logged-model endpoints (``/api/2.0/mlflow/logged-models``) that
``mlflow.sklearn.log_model`` and ``mlflow.pyfunc.log_model`` call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from mlstudio.api.deps import Actor, PlatformDep
from mlstudio.api.mlflow.errors import MlflowRoute
from mlstudio.api.mlflow.tracking import _body, _need, _pairs
from mlstudio.errors import InvalidInputError

router = APIRouter(prefix="/api/2.0/mlflow/logged-models", route_class=MlflowRoute)


def _models(platform: Any) -> Any:
    from mlstudio.integrations.tracking.models import LoggedModels

    return LoggedModels(platform.store)


def model_proto(m: dict[str, Any]) -> dict[str, Any]:
    info = {
        "model_id": m["id"],
        "experiment_id": str(m["experiment_id"]),
        "name": m["name"],
        "artifact_uri": f"mlflow-artifacts:/{m['experiment_id']}/models/{m['id']}/artifacts",
        "creation_timestamp_ms": m["creation_timestamp"],
        "last_updated_timestamp_ms": m["last_updated_timestamp"],
        "status": f"LOGGED_MODEL_{m['status']}",
        "tags": [{"key": k, "value": v} for k, v in m["tags"].items()],
    }
    if m.get("model_type"):
        info["model_type"] = m["model_type"]
    if m.get("source_run_id"):
        info["source_run_id"] = m["source_run_id"]
    params = [{"key": k, "value": v} for k, v in m["params"].items()]
    return {"info": info, "data": {"params": params, "metrics": []}}


@router.post("")
async def create(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    model = await run_in_threadpool(
        lambda: _models(platform).create(
            actor,
            str(_need(body, "experiment_id")),
            name=body.get("name"),
            model_type=body.get("model_type"),
            source_run_id=body.get("source_run_id"),
            params=_pairs(body.get("params")),
            tags=_pairs(body.get("tags")),
        )
    )
    return {"model": model_proto(model)}


@router.post("/search")
async def search(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    body = await _body(request)
    exp_ids = [str(e) for e in body.get("experiment_ids") or []]
    if not all(e.isdigit() for e in exp_ids):
        raise InvalidInputError("experiment ids are numbers")
    run_id = None
    text = str(body.get("filter") or "")
    if "source_run_id" in text:
        run_id = text.split("=", 1)[-1].strip().strip("'\"")
    limit = int(body.get("max_results") or 100)
    found = await run_in_threadpool(
        lambda: _models(platform).search(
            [int(e) for e in exp_ids], source_run_id=run_id, limit=limit
        )
    )
    return {"models": [model_proto(m) for m in found]}


@router.get("/{model_id}")
async def get(model_id: str, platform: PlatformDep, actor: Actor) -> Any:
    return {"model": model_proto(await run_in_threadpool(_models(platform).get, model_id))}


@router.patch("/{model_id}")
async def finalize(model_id: str, request: Request, platform: PlatformDep, actor: Actor) -> Any:
    status = _need(await _body(request), "status")
    model = await run_in_threadpool(lambda: _models(platform).update(model_id, status=status))
    return {"model": model_proto(model)}


@router.post("/{model_id}/params")
async def log_params(model_id: str, request: Request, platform: PlatformDep, actor: Actor) -> Any:
    params = _pairs((await _body(request)).get("params"))
    await run_in_threadpool(lambda: _models(platform).update(model_id, params=params))
    return {}


@router.patch("/{model_id}/tags")
async def set_tags(model_id: str, request: Request, platform: PlatformDep, actor: Actor) -> Any:
    tags = _pairs((await _body(request)).get("tags"))
    model = await run_in_threadpool(lambda: _models(platform).update(model_id, tags=tags))
    return {"model": model_proto(model)}


@router.delete("/{model_id}/tags/{key}")
async def delete_tag(model_id: str, key: str, platform: PlatformDep, actor: Actor) -> Any:
    await run_in_threadpool(lambda: _models(platform).update(model_id, drop_tag=key))
    return {}
