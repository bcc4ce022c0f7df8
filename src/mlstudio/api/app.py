"""``create_app(platform)``: the FastAPI application, a thin edge over the platform's services.

Nothing is created at import time. Every request needs a bearer token, checked before routing
or reading the body (``TokenAuthentication``); ``/health`` alone answers without one. Errors go
through the one mapping in :mod:`mlstudio.api.errors`.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from mlstudio.api.limits import DEFAULT_MAX_REQUESTS, ConcurrencyLimit, Gate
from mlstudio.api.uploads import DEFAULT_MAX_UPLOAD_BYTES

if TYPE_CHECKING:
    from fastapi.routing import APIRoute

    from mlstudio.platform import Platform

API_PREFIX = "/api/v1"
OPEN_PATHS = frozenset({"/health"})  # everything else needs a token


def _operation_id(route: APIRoute) -> str:
    """Stable operation ids for generated clients: ``{tag}-{function name}``."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlstudio")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def _warm(platform: Platform) -> None:
    """Build the services once, before requests race to build them in many threads."""
    services = ("store", "modules", "identity", "tokens", "domains", "runs", "datasets")
    for name in (*services, "declassifiers", "schedules", "webhooks"):
        getattr(platform, name)


def create_app(
    platform: Platform,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    background: bool = False,
    loops: Sequence[str] | None = None,
    max_requests: int = DEFAULT_MAX_REQUESTS,
) -> FastAPI:
    """The API over ``platform``.

    ``max_upload_bytes`` bounds module and dataset uploads (413 past it). With ``background``,
    the loops of :data:`mlstudio.api.background.LOOPS` (or ``loops``) run while the app does.
    Past ``max_requests`` in flight, requests get 503 with ``Retry-After`` (:mod:`.limits`).
    """
    from mlstudio.api import errors
    from mlstudio.api.deps import TokenAuthentication, current_actor
    from mlstudio.api.routers import (
        audit,
        cache,
        data,
        deployments,
        domains,
        evaluation,
        features,
        flags,
        genai,
        health,
        metrics,
        models,
        modules,
        monitoring,
        namespaces,
        runs,
        schedules,
        storage,
        tokens,
        tracking,
        users,
        webhooks,
        workflows,
    )
    from mlstudio.api.schemas.common import ErrorOut

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from anyio import to_thread

        from mlstudio.api.background import start_loops, stop_loops

        stop = threading.Event()
        threads = start_loops(platform, stop, loops) if background else []
        try:
            yield
        finally:
            await to_thread.run_sync(stop_loops, threads, stop)

    _warm(platform)
    app = FastAPI(
        title="mlstudio",
        version=_version(),
        description="Versioned ML modules, durable workflows, governance in the execution layer.",
        openapi_url=None,  # served below, behind the token like every other route
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.platform = platform
    app.state.max_upload_bytes = int(max_upload_bytes)
    errors.install(app)
    from mlstudio.api import portal  # its pages check their own session cookie instead

    app.add_middleware(
        TokenAuthentication, platform=platform, open_paths=portal.open_paths(OPEN_PATHS)
    )
    app.state.gate = Gate(max_requests)
    app.add_middleware(ConcurrencyLimit, gate=app.state.gate, open_paths=OPEN_PATHS)  # outermost
    app.include_router(health.router)
    unauthenticated = {401: {"model": ErrorOut, "description": "Missing or invalid token"}}
    app.include_router(
        metrics.router, dependencies=[Depends(current_actor)], responses=unauthenticated
    )

    failures: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorOut, "description": text}
        for status, text in (
            (400, "Invalid input (including malformed JSON)"),
            (401, "Missing, malformed, unknown, revoked or expired token"),
            (403, "The token's user lacks the role"),
            (404, "Not found"),
            (409, "Conflicts with the current state"),
        )
    }
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(current_actor)], responses=failures)
    by_domain = (
        modules,
        namespaces,
        workflows,
        runs,
        cache,
        schedules,
        webhooks,
        data,
        features,
        domains,
        users,
        tokens,
        audit,
        storage,
        tracking,
        models,
        evaluation,
        flags,
        monitoring,
        deployments,
        genai,
    )
    for module in by_domain:
        api.include_router(module.router)

    @api.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> dict[str, Any]:
        return request.app.openapi()

    app.include_router(api)
    from mlstudio.api.mlflow import mlflow_router

    app.include_router(mlflow_router(), dependencies=[Depends(current_actor)])
    portal.mount(app)
    return app
