"""The serving process's HTTP app (FastAPI).

``POST /v1/models/{name}:predict`` ``{"rows": [{column: value}, …], "subject": "…"}`` →
predictions, the version that answered and the request id; ``GET /v1/models/{name}`` (version,
status, flags); ``/health`` (no token), ``/ready``; ``/metrics`` (Prometheus text). Every route
but ``/health`` needs a bearer token (cached, see :mod:`.auth`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mlstudio.errors import InvalidInputError, MlstudioError, NotFoundError, PayloadTooLargeError
from mlstudio.integrations.serving.auth import TokenCache
from mlstudio.integrations.serving.runtime import Serving, request_id

OPEN_PATHS = frozenset({"/health"})

PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["rows"],
                    "properties": {
                        "rows": {"type": "array", "items": {"type": "object"}, "minItems": 1},
                        "subject": {"type": "string"},
                    },
                }
            }
        },
    }
}


def _error(exc: MlstudioError, rid: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": exc.to_dict()}
    if rid:
        body["request_id"] = rid
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return JSONResponse(body, status_code=exc.http_status, headers=headers)


class CachedTokenAuth:
    """ASGI middleware: a token checked within the cache's TTL costs no DB call (``render``
    turns a refusal into the response; by default mlstudio's error body)."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: TokenCache,
        render: Callable[[MlstudioError], JSONResponse] | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.render = render or _error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        actor = self.tokens.cached(header)
        if actor is None:
            try:
                actor = await run_in_threadpool(self.tokens.check, header)
            except MlstudioError as exc:
                await self.render(exc)(scope, receive, send)
                return
            except Exception as exc:  # the DB is down and the token was never seen
                from mlstudio.errors import StoreUnavailableError

                error = StoreUnavailableError(f"cannot check the token now: {exc}"[:300])
                await self.render(error)(scope, receive, send)
                return
        scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_big = PayloadTooLargeError(
        f"request body larger than {limit} bytes",
        hint="send fewer rows per request (mlstudio serve --max-body-mb raises the limit)",
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(serving: Serving, tokens: TokenCache) -> FastAPI:
    name = serving.config.name
    app = FastAPI(
        title=f"mlstudio serve {name}",
        description=f"Model {name}@{serving.config.alias}, following the alias.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.serving = serving
    app.add_middleware(CachedTokenAuth, tokens=tokens)

    def check_name(requested: str) -> None:
        if requested != name:
            raise NotFoundError(
                f"this process serves model {name}, not {requested}",
                hint=f"POST /v1/models/{name}:predict",
            )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        current = serving.host.current
        if current is None:
            return JSONResponse({"ready": False}, status_code=503)
        return JSONResponse({"ready": True, "model": name, "version": current.version})

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(serving.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models/{model}")
    async def show(model: str) -> JSONResponse:
        try:
            check_name(model)
        except MlstudioError as exc:
            return _error(exc)
        return JSONResponse(serving.describe())

    @app.post("/v1/models/{model}:predict", openapi_extra=PREDICT_BODY)
    async def predict(model: str, request: Request) -> JSONResponse:
        started = time.perf_counter()
        rid = request.headers.get("x-request-id") or request_id()
        try:
            check_name(model)
            body = await _read_body(request, serving.config.max_body_bytes)
            try:
                payload = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InvalidInputError(
                    f"the request body is not valid JSON: {exc}",
                    hint='send {"rows": [{"column": value}]}',
                ) from exc
            result = await serving.predict(payload, rid)
        except MlstudioError as exc:
            serving.metrics.inc("mlstudio_serve_errors_total", kind=exc.code)
            serving.metrics.inc("mlstudio_serve_requests_total", status=str(exc.http_status))
            serving.metrics.observe(time.perf_counter() - started)
            return _error(exc, rid)
        serving.metrics.inc("mlstudio_serve_requests_total", status="200")
        serving.metrics.observe(time.perf_counter() - started)
        return JSONResponse(result, headers={"x-request-id": rid})

    return app
