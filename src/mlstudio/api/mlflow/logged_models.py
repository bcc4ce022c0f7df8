"""MLflow 3 logged models (``/api/2.0/mlflow/logged-models``): create, get, finalize, tags and
search (with MLflow's filter grammar over attributes, params and tags:
:mod:`mlstudio.integrations.tracking.model_search`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from mlstudio.api.deps import StudioDep

P = "/api/2.0/mlflow/logged-models"
router = APIRouter()


def _model_json(row: dict[str, Any]) -> dict[str, Any]:
    exp = str(row["experiment_id"])
    return {
        "info": {
            "model_id": row["id"],
            "experiment_id": exp,
            "name": row["name"],
            "source_run_id": row["source_run_id"] or "",
            "status": row["status"],
            "model_type": row["model_type"] or "",
            "creation_timestamp_ms": row["creation_timestamp"],
            "last_updated_timestamp_ms": row["last_updated_timestamp"],
            "artifact_uri": f"mlflow-artifacts:/{exp}/models/{row['id']}/artifacts",
            "tags": [{"key": k, "value": v} for k, v in (row["tags"] or {}).items()],
        },
        "data": {"params": [{"key": k, "value": v} for k, v in (row["params"] or {}).items()]},
    }


@router.post(f"{P}/search")
async def search_logged_models(request: Request, studio: StudioDep) -> Any:
    try:
        data = await request.json()
    except Exception:
        data = {}
    from mlstudio.api.mlflow.errors import from_mlstudio
    from mlstudio.errors import MlstudioError
    from mlstudio.integrations.tracking.model_search import matching, parse_model_filter

    data = data if isinstance(data, dict) else {}
    ids = [int(e) for e in data.get("experiment_ids") or [] if str(e).isdigit()]
    limit = min(int(data.get("max_results") or 100), 1000)
    try:
        clauses = parse_model_filter(data.get("filter"))
    except MlstudioError as exc:
        return from_mlstudio(exc)
    with studio.platform.store.read() as uow:
        # a filter is applied to the experiments' models, then the page is cut
        rows = uow.tracking.logged_models(ids, limit=limit if not clauses else 100_000)
    return {"models": [_model_json(r) for r in matching(rows, clauses)[:limit]]}


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


def _pairs(items: Any) -> dict[str, str]:
    return {str(i.get("key")): str(i.get("value")) for i in items or [] if isinstance(i, dict)}


@router.post(P)
async def create_logged_model(request: Request, studio: StudioDep) -> Any:
    import secrets
    import time

    from mlstudio.api.mlflow.errors import from_mlstudio
    from mlstudio.errors import MlstudioError, NotFoundError

    data = await _body(request)
    now = int(time.time() * 1000)
    model_id = f"m-{secrets.token_hex(16)}"
    exp = str(data.get("experiment_id") or "0")
    try:
        with studio.platform.store.transaction() as uow:
            if not exp.isdigit() or uow.tracking.experiment(int(exp)) is None:
                raise NotFoundError(f"no experiment {exp!r}")
            uow.tracking.create_logged_model(
                {
                    "id": model_id,
                    "experiment_id": int(exp),
                    "name": str(data.get("name") or "model")[:256],
                    "source_run_id": data.get("source_run_id"),
                    "status": "LOGGED_MODEL_PENDING",
                    "model_type": data.get("model_type"),
                    "params": _pairs(data.get("params")),
                    "tags": _pairs(data.get("tags")),
                    "created_by": studio.actor,
                    "creation_timestamp": now,
                    "last_updated_timestamp": now,
                }
            )
            row = uow.tracking.logged_model(model_id)
    except MlstudioError as exc:
        return from_mlstudio(exc)
    return {"model": _model_json(row or {})}


def _get(studio: Any, model_id: str) -> Any:
    from mlstudio.api.mlflow.errors import mlflow_error

    with studio.platform.store.read() as uow:
        row = uow.tracking.logged_model(model_id)
    if row is None:
        return mlflow_error("RESOURCE_DOES_NOT_EXIST", f"no logged model {model_id!r}", 404)
    return {"model": _model_json(row)}


@router.get(P + "/{model_id}")
def get_logged_model(model_id: str, studio: StudioDep) -> Any:
    return _get(studio, model_id)


@router.patch(P + "/{model_id}")
async def finalize_logged_model(model_id: str, request: Request, studio: StudioDep) -> Any:
    import time

    data = await _body(request)
    status = str(data.get("status") or "LOGGED_MODEL_READY")
    with studio.platform.store.transaction() as uow:
        if uow.tracking.logged_model(model_id) is not None:
            uow.tracking.update_logged_model(
                model_id, status=status, last_updated_timestamp=int(time.time() * 1000)
            )
    return _get(studio, model_id)


@router.patch(P + "/{model_id}/tags")
async def set_logged_model_tags(model_id: str, request: Request, studio: StudioDep) -> Any:
    data = await _body(request)
    with studio.platform.store.transaction() as uow:
        row = uow.tracking.logged_model(model_id)
        if row is not None:
            tags = {**(row["tags"] or {}), **_pairs(data.get("tags"))}
            uow.tracking.update_logged_model(model_id, tags=tags)
    return _get(studio, model_id)


@router.post("/api/2.0/mlflow/runs/outputs")
async def log_outputs(request: Request, studio: StudioDep) -> Any:
    """A run's outputs (its logged models): recorded as the models' source run already."""
    return {}


@router.post("/api/2.0/mlflow/runs/log-inputs")
async def log_inputs(request: Request, studio: StudioDep) -> Any:
    return {}
