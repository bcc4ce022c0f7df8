"""``/api/v1/namespaces``: team spaces, their roles and their quotas."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import Paging, StudioDep
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
def list_namespaces(studio: StudioDep, page: Paging) -> dict[str, Any]:
    """Every namespace with its members."""
    return page.page(page.slice(studio.namespaces.list()))


@router.post("", status_code=201, response_model=NamespaceOut)
def create_namespace(body: NamespaceCreateIn, studio: StudioDep) -> Any:
    """Create a namespace (admins); ``owner`` (default: you) gets the owner role."""
    return studio.namespaces.create(body.name, body.owner, body.description)


@router.post("/{name}/grants", response_model=NamespaceGrantOut)
def grant_namespace(name: str, body: NamespaceGrantIn, studio: StudioDep) -> Any:
    """Grant a namespace role (owners and admins)."""
    return studio.namespaces.grant(name, body.user, body.role)


@router.get("/{name}/quota", response_model=NamespaceQuotaOut)
def namespace_quota(name: str, studio: StudioDep) -> Any:
    """A namespace's quotas (null: unlimited) and what counts against them now."""
    return studio.namespaces.quota(name)


@router.put("/{name}/quota", response_model=NamespaceQuotaOut)
def set_namespace_quota(name: str, body: NamespaceQuotaIn, studio: StudioDep) -> Any:
    """Set or clear (null) a namespace's quotas (admins); omitted fields stay as they are."""
    return studio.namespaces.set_quota(
        name, **{key: getattr(body, key) for key in body.model_fields_set}
    )
