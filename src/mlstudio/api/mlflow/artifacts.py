"""MLflow's proxied artifacts (``/api/2.0/mlflow-artifacts/artifacts/...``) over the content
store: ``EXP/RUN_ID/artifacts/PATH`` (a run's) and ``EXP/models/MODEL_ID/artifacts/PATH`` (a
logged model's). Paths with ``..`` are refused."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlstudio.api.deps import StudioDep
from mlstudio.api.mlflow.errors import from_mlstudio
from mlstudio.core.tracking import validate_artifact_path
from mlstudio.errors import InvalidInputError, MlstudioError

P = "/api/2.0/mlflow-artifacts/artifacts"
router = APIRouter()


def split(path: str) -> tuple[str, str]:
    """``(owner, path inside its artifacts)`` of an MLflow artifact path."""
    clean = validate_artifact_path(path)
    parts = clean.split("/")
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        return parts[2], "/".join(parts[4:])
    if len(parts) >= 3 and parts[2] == "artifacts":
        return parts[1], "/".join(parts[3:])
    raise InvalidInputError(f"artifact path {path!r} names no run or model artifacts")


@router.put(P + "/{path:path}")
async def upload(path: str, request: Request, studio: StudioDep) -> Any:
    try:
        owner, inner = split(path)
        data = await request.body()
        studio.platform.tracking.put_artifact(studio.actor, owner, inner, data)
    except MlstudioError as exc:
        return from_mlstudio(exc)
    return {}


@router.get(P + "/{path:path}")
def download(path: str, studio: StudioDep) -> Any:
    try:
        owner, inner = split(path)
        data = studio.platform.tracking.artifact(owner, inner)
    except MlstudioError as exc:
        return from_mlstudio(exc)
    return Response(data, media_type="application/octet-stream")


@router.get(P)
def listing(studio: StudioDep, path: str = "") -> Any:
    try:
        owner, inner = split(path)
        files = studio.platform.tracking.list_artifacts(owner, inner)
    except MlstudioError as exc:
        return from_mlstudio(exc)
    start = len(inner) + 1 if inner else 0
    return {"files": [{**f, "path": f["path"][start:]} for f in files]}


@router.get("/api/3.0/mlflow/server-info")
def server_info(studio: StudioDep) -> Any:
    return {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
    }
