"""MLflow's error shape ``{"error_code": ..., "message": ...}`` for everything under /mlflow."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from mlstudio.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    MlstudioError,
    NotFoundError,
    PermissionDeniedError,
)

CODES: list[tuple[type[Exception], int, str]] = [
    (NotFoundError, 404, "RESOURCE_DOES_NOT_EXIST"),
    (ConflictError, 400, "RESOURCE_ALREADY_EXISTS"),
    (InvalidInputError, 400, "INVALID_PARAMETER_VALUE"),
    (AuthenticationError, 401, "UNAUTHENTICATED"),
    (PermissionDeniedError, 403, "PERMISSION_DENIED"),
]


def mlflow_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def from_exception(exc: Exception) -> JSONResponse:
    for kind, status, code in CODES:
        if isinstance(exc, kind):
            return mlflow_error(status, code, str(exc))
    return mlflow_error(500, "INTERNAL_ERROR", str(exc))


class MlflowRoute(APIRoute):
    """A route whose refusals are MLflow errors rather than mlstudio's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except MlstudioError as exc:
                return from_exception(exc)
            except RequestValidationError as exc:
                return mlflow_error(400, "INVALID_PARAMETER_VALUE", str(exc.errors())[:500])

        return handler
