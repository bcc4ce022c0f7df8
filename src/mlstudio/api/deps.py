"""Dependencies every route states in its signature: the studio, the actor, a page.

Authentication is all the API adds: a bearer token checked by the token service, first of all
(``TokenAuthentication``). A route gets ``StudioDep``, the application interface as the
token's user (:class:`mlstudio.app.local.LocalStudio`), and makes one call into it; the rules,
authorization included, live there and below, never in a route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mlstudio.api.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from mlstudio.app.local import LocalStudio
from mlstudio.errors import MlstudioError
from mlstudio.governance.bearer import authenticate
from mlstudio.platform import Platform

# Documents the scheme in OpenAPI; the header itself is read below for precise messages.
_bearer = HTTPBearer(auto_error=False, description="An API token: mlstudio token create")


# Trivial dependencies are ``async def``: FastAPI runs sync ones in a worker thread each.
async def get_platform(request: Request) -> Platform:
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def current_actor(
    request: Request, platform: PlatformDep, _scheme: Annotated[object, Depends(_bearer)]
) -> str:
    """The authenticated user: set by :class:`TokenAuthentication` before routing, or checked
    here when the app runs without it."""
    actor = getattr(request.state, "actor", None)
    if actor is None:
        header = request.headers.get("authorization")
        actor = await run_in_threadpool(authenticate, platform, header)
        request.state.actor = actor
    return actor


class TokenAuthentication:
    """ASGI middleware: every request but to ``open_paths`` needs a valid token, before anything
    else happens (routing, reading or parsing the body); unknown paths included, so nothing
    answers without one. Refusals use the one error mapping."""

    def __init__(self, app: ASGIApp, platform: Platform, open_paths: frozenset[str]) -> None:
        self.app = app
        self.platform = platform
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in self.open_paths:
            await self.app(scope, receive, send)
            return
        from mlstudio.api.errors import error_response

        header = Headers(scope=scope).get("authorization")
        try:
            actor = await run_in_threadpool(authenticate, self.platform, header)
        except MlstudioError as exc:
            if scope.get("path", "").startswith(
                "/mlflow/"
            ):  # the MLflow client reads its own shape
                from mlstudio.api.mlflow.errors import from_mlstudio

                await from_mlstudio(exc)(scope, receive, send)
            else:
                await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


Actor = Annotated[str, Depends(current_actor)]


async def current_studio(request: Request, platform: PlatformDep, actor: Actor) -> LocalStudio:
    """The application interface as the token's user, for this request."""
    return LocalStudio(platform, actor, served=True)


StudioDep = Annotated[LocalStudio, Depends(current_studio)]


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int

    def slice(self, items: list) -> list:
        """For services that return whole lists: this page of them."""
        return items[self.offset : self.offset + self.limit]

    def page(self, items: list) -> dict:
        return {"items": items, "limit": self.limit, "offset": self.offset}


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit, offset)


Paging = Annotated[PageParams, Depends(page_params)]
