"""MLflow's error shape: ``{"error_code": ..., "message": ...}`` with its HTTP status."""

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


def mlflow_error(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def from_mlstudio(exc: MlstudioError) -> JSONResponse:
    if isinstance(exc, NotFoundError):
        return mlflow_error("RESOURCE_DOES_NOT_EXIST", exc.one_line(), 404)
    if isinstance(exc, ConflictError):
        return mlflow_error("RESOURCE_ALREADY_EXISTS", exc.one_line(), 400)
    if isinstance(exc, InvalidInputError):
        return mlflow_error("INVALID_PARAMETER_VALUE", exc.one_line(), 400)
    if isinstance(exc, AuthenticationError):
        return mlflow_error("UNAUTHENTICATED", exc.one_line(), 401)
    if isinstance(exc, PermissionDeniedError):
        return mlflow_error("PERMISSION_DENIED", exc.one_line(), 403)
    return mlflow_error("INTERNAL_ERROR", exc.one_line(), 500)
