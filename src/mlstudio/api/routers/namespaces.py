"""``/api/v1/namespaces``: team spaces, their roles and their quotas."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import Actor, Paging, PlatformDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.modules import (
    NamespaceCreateIn,
    NamespaceGrantIn,
    NamespaceGrantOut,
    NamespaceOut,
    NamespaceQuotaIn,
    NamespaceQuotaOut,
)

router = APIRouter(prefix="/namespaces", tags=["namespaces"])


@router.get("", response_model=Page[NamespaceOut])
def list_namespaces(platform: PlatformDep, page: Paging) -> dict[str, Any]:
    """Every namespace with its members."""
    return page.page(page.slice(platform.modules.list_namespaces()))


@router.post("", status_code=201, response_model=NamespaceOut)
def create_namespace(body: NamespaceCreateIn, platform: PlatformDep, actor: Actor) -> Any:
    """Create a namespace (admins); ``owner`` (default: you) gets the owner role."""
    record = platform.modules.create_namespace(actor, body.name, body.owner, body.description)
    return {**record.to_dict(), "owner": body.owner or actor}


@router.post("/{name}/grants", response_model=NamespaceGrantOut)
def grant_namespace(
    name: str, body: NamespaceGrantIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Grant a namespace role (owners and admins)."""
    added = platform.modules.grant_namespace(actor, name, body.user, body.role)
    return {"namespace": name, "user": body.user, "role": body.role, "added": added}


@router.get("/{name}/quota", response_model=NamespaceQuotaOut)
def namespace_quota(name: str, platform: PlatformDep) -> dict[str, Any]:
    """A namespace's quotas (null: unlimited) and what counts against them now."""
    return platform.modules.namespace_quota(name)


@router.put("/{name}/quota", response_model=NamespaceQuotaOut)
def set_namespace_quota(
    name: str, body: NamespaceQuotaIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Set or clear (null) a namespace's quotas (admins); omitted fields stay as they are."""
    changes = {key: getattr(body, key) for key in body.model_fields_set}
    return platform.modules.set_namespace_quota(actor, name, **changes)
