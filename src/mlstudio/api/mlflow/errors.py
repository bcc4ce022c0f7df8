"""MLflow's error shape: ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}``."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from mlstudio.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    MlstudioError,
    NotFoundError,
    PermissionDeniedError,
)


def mlflow_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def from_mlstudio(error: MlstudioError) -> JSONResponse:
    """The MLflow answer for an mlstudio error (the client branches on ``error_code``)."""
    message = error.one_line()
    if isinstance(error, NotFoundError):
        return mlflow_error(404, "RESOURCE_DOES_NOT_EXIST", message)
    if isinstance(error, ConflictError):
        return mlflow_error(400, "RESOURCE_ALREADY_EXISTS", message)
    if isinstance(error, InvalidInputError):
        return mlflow_error(400, "INVALID_PARAMETER_VALUE", message)
    if isinstance(error, AuthenticationError):
        return mlflow_error(401, "UNAUTHENTICATED", message)
    if isinstance(error, PermissionDeniedError):
        return mlflow_error(403, "PERMISSION_DENIED", message)
    return mlflow_error(500, "INTERNAL_ERROR", message)
