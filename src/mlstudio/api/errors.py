"""The one mapping from errors to HTTP responses: ``{"error": {"code", "message", …}}``.

``MlstudioError`` carries its own status and code; request validation (including malformed
JSON) becomes a 400 ``invalid_input`` with one line naming the field; unknown routes a 404 in the
same shape; anything else a 500 whose traceback goes to the server log, not to the client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlstudio.errors import AuthenticationError, InvalidInputError, MlstudioError

log = logging.getLogger("mlstudio.api")

_HTTP_CODES = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def error_response(error: MlstudioError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, AuthenticationError) else None
    return JSONResponse({"error": error.to_dict()}, status_code=error.http_status, headers=headers)


def _body(
    status: int,
    code: str,
    message: str,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if hint:
        error["hint"] = hint
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        kind, rest = parts[0], parts[1:]
        if kind == "body":
            return "body" + (f" field {'.'.join(rest)}" if rest else "")
        return f"{kind} parameter {'.'.join(rest)}"
    return ".".join(parts)


def validation_message(exc: RequestValidationError) -> InvalidInputError:
    errors = list(exc.errors())
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "not valid JSON")
            loc = list(err.get("loc") or [])
            at = f" at character {loc[1]}" if len(loc) > 1 else ""
            return InvalidInputError(
                f"malformed JSON body: {reason}{at}",
                hint="send a JSON object with Content-Type: application/json",
            )
    problems = []
    for err in errors[:3]:
        loc = tuple(err.get("loc") or ())
        if err.get("type") == "missing" and loc == ("body",):
            problems.append("missing JSON body")
            continue
        msg = str(err.get("msg", "invalid")).replace("\n", " ")
        problems.append(f"{_where(loc)}: {msg}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return InvalidInputError(
        "invalid request: " + "; ".join(problems) + more,
        hint="see the API document: GET /api/v1/openapi.json",
    )


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path (Starlette names the first route's only)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    async def on_mlstudio_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MlstudioError)
        if exc.http_status >= 500:
            log.error("%s: %s", type(exc).__name__, exc.one_line())
        return error_response(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(validation_message(exc))

    async def on_model_error(_request: Request, exc: Exception) -> JSONResponse:
        # a request model a route builds from its parameters (e.g. GrantIn from a query)
        assert isinstance(exc, ValidationError)
        return error_response(validation_message(RequestValidationError(exc.errors())))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        if status == 404:
            return _body(
                404,
                "not_found",
                f"no route {request.method} {request.url.path}",
                hint="see the API document: GET /api/v1/openapi.json",
            )
        if status == 405:
            return _body(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}",
                headers={"Allow": _allowed_methods(request)},  # RFC 9110
            )
        code = _HTTP_CODES.get(status, "http_error")
        return _body(status, code, str(exc.detail).replace("\n", " "))

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error", exc_info=exc)
        return _body(
            500,
            "internal",
            f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(
                ": "
            ),
            hint="this is a bug in mlstudio; the server log has the traceback",
        )

    app.add_exception_handler(MlstudioError, on_mlstudio_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(ValidationError, on_model_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
