"""The MLflow REST API, served under ``/mlflow`` (``MLFLOW_TRACKING_URI=http://HOST:PORT/mlflow``)
over mlstudio's own tracking store and model registry, behind the same token auth (MLflow sends
``MLFLOW_TRACKING_TOKEN`` as a bearer token)."""

from __future__ import annotations

from fastapi import APIRouter

PREFIX = "/mlflow"


def mlflow_router() -> APIRouter:
    from mlstudio.api.mlflow import artifacts, logged_models, registry, tracking

    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    router.include_router(tracking.router)
    router.include_router(artifacts.router)
    router.include_router(logged_models.router)
    router.include_router(registry.router())
    router.include_router(tracking.fallback)  # last: unknown endpoints → ENDPOINT_NOT_FOUND
    return router
