"""``/api/v1/users`` and ``/api/v1/whoami``: users and their roles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlstudio.api.deps import Actor, Paging, PlatformDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.governance import (
    GrantIn,
    GrantOut,
    UserAddIn,
    UserListItem,
    UserOut,
    WhoamiOut,
)
from mlstudio.errors import InvalidInputError

router = APIRouter(tags=["users"])


@router.get("/whoami", response_model=WhoamiOut)
def whoami(platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """The token's user and their roles."""
    return platform.identity.whoami(actor)


@router.get("/users", response_model=Page[UserListItem])
def list_users(platform: PlatformDep, page: Paging) -> dict[str, Any]:
    """Every user with their grants."""
    rows = [
        {**u.to_dict(), "grants": [g.to_dict() for g in grants]}
        for u, grants in platform.identity.list_users()
    ]
    return page.page(page.slice(rows))


@router.post("/users", status_code=201, response_model=UserOut)
def add_user(body: UserAddIn, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Register a user (admins)."""
    record = platform.identity.add_user(actor, body.name, body.role)
    return {**record.to_dict(), "role": body.role}


@router.post("/users/{name}/grants", response_model=GrantOut)
def grant_role(name: str, body: GrantIn, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Grant a platform role, or a role on a namespace or a domain."""
    kind, scope = body.scope
    added = platform.identity.grant(actor, name, body.role, kind, scope)
    return {"user": name, "role": body.role, "scope_kind": kind, "scope": scope, "added": added}


@router.delete("/users/{name}/grants/{role}", response_model=GrantOut)
def revoke_role(
    name: str,
    role: str,
    platform: PlatformDep,
    actor: Actor,
    namespace: Annotated[str | None, Query(description="Revoke on this namespace")] = None,
    domain: Annotated[str | None, Query(description="Revoke on this domain")] = None,
) -> dict[str, Any]:
    """Remove a platform role, or a role on a namespace or a domain."""
    if namespace and domain:
        raise InvalidInputError("pass either namespace or domain, not both")
    kind, scope = GrantIn(role=role, namespace=namespace, domain=domain).scope
    removed = platform.identity.revoke(actor, name, role, kind, scope)
    return {"user": name, "role": role, "scope_kind": kind, "scope": scope, "removed": removed}


@router.post("/users/{name}/disable", response_model=UserOut)
def disable_user(name: str, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Disable a user (admins): their tokens stop working."""
    return platform.identity.disable(actor, name).to_dict()


@router.post("/users/{name}/enable", response_model=UserOut)
def enable_user(name: str, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Enable a disabled user again (admins); their grants are kept."""
    return platform.identity.enable(actor, name).to_dict()
