"""``/api/v1/users`` and ``/api/v1/whoami``: users and their roles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.governance import (
    GrantIn,
    GrantOut,
    UserAddIn,
    UserListItem,
    UserOut,
    WhoamiOut,
)

router = APIRouter(tags=["users"])


@router.get("/whoami", response_model=WhoamiOut)
def whoami(studio: StudioDep) -> Any:
    """The token's user and their roles."""
    return studio.users.whoami()


@router.get("/users", response_model=Page[UserListItem])
def list_users(studio: StudioDep, page: Paging) -> dict[str, Any]:
    """Every user with their grants."""
    return page.page(studio.users.list(limit=page.limit, offset=page.offset))


@router.post("/users", status_code=201, response_model=UserOut)
def add_user(body: UserAddIn, studio: StudioDep) -> Any:
    """Register a user (admins)."""
    return studio.users.add(body.name, body.role)


@router.post("/users/{name}/grants", response_model=GrantOut)
def grant_role(name: str, body: GrantIn, studio: StudioDep) -> Any:
    """Grant a platform role, or a role on a namespace or a domain."""
    return studio.users.grant(name, body.role, namespace=body.namespace, domain=body.domain)


@router.delete("/users/{name}/grants/{role}", response_model=GrantOut)
def revoke_role(
    name: str,
    role: str,
    studio: StudioDep,
    namespace: Annotated[str | None, Query(description="Revoke on this namespace")] = None,
    domain: Annotated[str | None, Query(description="Revoke on this domain")] = None,
) -> Any:
    """Remove a platform role, or a role on a namespace or a domain."""
    return studio.users.revoke(name, role, namespace=namespace, domain=domain)


@router.post("/users/{name}/disable", response_model=UserOut)
def disable_user(name: str, studio: StudioDep) -> Any:
    """Disable a user (admins): their tokens stop working."""
    return studio.users.disable(name)


@router.post("/users/{name}/enable", response_model=UserOut)
def enable_user(name: str, studio: StudioDep) -> Any:
    """Enable a disabled user again (admins); their grants are kept."""
    return studio.users.enable(name)
