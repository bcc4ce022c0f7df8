"""The MLflow REST API, served under ``/mlflow`` (``MLFLOW_TRACKING_URI=http://HOST/mlflow``),
behind the same token auth (MLflow sends ``MLFLOW_TRACKING_TOKEN`` as a bearer token)."""

from __future__ import annotations

from fastapi import APIRouter

PREFIX = "/mlflow"


def mlflow_router() -> APIRouter:
    from mlstudio.api.mlflow import registry
    from mlstudio.api.mlflow.errors import mlflow_error

    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    router.include_router(registry.router())

    @router.api_route("/{path:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    def unknown(path: str):  # type: ignore[no-untyped-def]
        return mlflow_error(404, "ENDPOINT_NOT_FOUND", f"no MLflow endpoint /{path}")

    return router
