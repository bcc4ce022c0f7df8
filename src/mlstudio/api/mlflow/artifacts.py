"""``/api/2.0/mlflow-artifacts/artifacts/...``: MLflow's artifact proxy, into our CAS.

A run's ``artifact_uri`` is ``mlflow-artifacts:/EXP/RUN/artifacts``; a logged model's is
``mlflow-artifacts:/EXP/models/MODEL/artifacts``. The path after ``artifacts/`` is checked
(no ``..``, no absolute paths) by the tracking service before anything is stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from mlstudio.api.deps import Actor, PlatformDep
from mlstudio.api.mlflow.errors import MlflowRoute
from mlstudio.errors import InvalidInputError

router = APIRouter(prefix="/api/2.0/mlflow-artifacts", route_class=MlflowRoute)


def split(path: str) -> tuple[str, str]:
    """``(owner, path inside it)`` of an artifact path."""
    parts = [p for p in path.strip("/").split("/")]
    if "" in parts or ".." in parts or "." in parts:
        raise InvalidInputError(f"invalid artifact path {path!r}", hint="no '..' and no '//'")
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        return parts[2], "/".join(parts[4:])
    if len(parts) >= 3 and parts[2] == "artifacts":
        return parts[1], "/".join(parts[3:])
    raise InvalidInputError(f"invalid artifact path {path!r}", hint="use EXP/RUN/artifacts/PATH")


@router.put("/artifacts/{path:path}")
async def upload(path: str, request: Request, platform: PlatformDep, actor: Actor) -> Any:
    owner, inner = split(path)
    if not inner:
        raise InvalidInputError("an artifact needs a file path")
    data = await request.body()
    await run_in_threadpool(platform.tracking.put_artifact, actor, owner, inner, data)
    return {}


@router.get("/artifacts/{path:path}")
async def download(path: str, platform: PlatformDep, actor: Actor) -> Any:
    owner, inner = split(path)
    data = await run_in_threadpool(platform.tracking.artifact, owner, inner)
    return Response(data, media_type="application/octet-stream")


@router.get("/artifacts")
async def listing(request: Request, platform: PlatformDep, actor: Actor) -> Any:
    path = request.query_params.get("path") or ""
    owner, inner = split(path)
    found = await run_in_threadpool(platform.tracking.list_artifacts, owner, inner)
    files = []
    for f in found:
        entry: dict[str, Any] = {"path": f["path"].rsplit("/", 1)[-1], "is_dir": f["is_dir"]}
        if not f["is_dir"]:
            entry["file_size"] = f["file_size"]
        files.append(entry)
    return {"files": files}
