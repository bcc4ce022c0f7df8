"""``/api/v1/deployments``: deployments the server's supervisor runs (one call per route)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import StudioDep
from mlstudio.api.schemas.deployments import DeploymentIn

router = APIRouter(prefix="/deployments", tags=["deployments"])


@router.get("")
def list_deployments(studio: StudioDep) -> dict[str, Any]:
    """Every deployment with its status, url, pid and restarts."""
    return {"items": studio.deployments.list()}


@router.get("/{name}")
def show_deployment(name: str, studio: StudioDep) -> dict[str, Any]:
    return studio.deployments.show(name)


@router.put("/{name}")
def deploy(name: str, body: DeploymentIn, studio: StudioDep) -> dict[str, Any]:
    """Create or change a deployment (audited); the supervisor starts or restarts it."""
    return studio.deployments.deploy(
        name,
        alias=body.alias,
        also=body.also,
        fallback=body.fallback,
        domain=body.domain,
        port=body.port,
    )


@router.delete("/{name}")
def remove_deployment(name: str, studio: StudioDep) -> dict[str, Any]:
    """Stop and forget a deployment (audited)."""
    return studio.deployments.remove(name)
