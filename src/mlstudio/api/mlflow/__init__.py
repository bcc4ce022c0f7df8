"""The MLflow REST API under ``/mlflow`` (``MLFLOW_TRACKING_URI=http://host:port/mlflow``):
an unmodified MLflow client logs into mlstudio's one tracking store, with the same tokens
(MLflow sends ``MLFLOW_TRACKING_TOKEN`` as a bearer token)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter

PREFIX = "/mlflow"


def mlflow_router() -> APIRouter:
    from fastapi import APIRouter

    from mlstudio.api.mlflow import artifacts, logged_models, tracking
    from mlstudio.api.mlflow.errors import MlflowRoute, mlflow_error

    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    router.include_router(logged_models.router)  # before tracking's /logged-models… none
    router.include_router(tracking.router)
    router.include_router(artifacts.router)
    # the registry helper adds its include line here

    sink = APIRouter(route_class=MlflowRoute)

    @sink.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def unknown(path: str) -> object:
        return mlflow_error(404, "ENDPOINT_NOT_FOUND", f"no MLflow endpoint /{path}")

    router.include_router(sink)  # last: after every real endpoint
    return router
