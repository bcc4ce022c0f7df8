"""``/api/v1/domains``: execution domains and their data policies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.governance import (
    DomainCreateIn,
    DomainOut,
    DomainRemovalOut,
    DomainSetIn,
    DomainShowOut,
)

router = APIRouter(prefix="/domains", tags=["domains"])


@router.get("", response_model=Page[DomainOut])
def list_domains(studio: StudioDep, page: Paging) -> dict[str, Any]:
    """Every domain with its policy."""
    return page.page(page.slice(studio.domains.list()))


@router.get("/{name}", response_model=DomainShowOut)
def show_domain(name: str, studio: StudioDep) -> Any:
    """A domain's policy and members."""
    return studio.domains.show(name)


@router.post("", status_code=201, response_model=DomainOut)
def create_domain(body: DomainCreateIn, studio: StudioDep) -> Any:
    """Create a domain (admins): closed by default (clearance public, no labels, only its own
    datasets, no persisting, promoted code only) but for the fields given; 409 if it exists."""
    fields = {key: getattr(body, key) for key in body.model_fields_set if key != "name"}
    return studio.domains.create(body.name, **fields)


@router.put("/{name}", response_model=DomainOut)
def set_domain(name: str, body: DomainSetIn, studio: StudioDep) -> Any:
    """Change an existing domain's policy (admins); 404 for an unknown one. Omitted fields
    stay as they are (lists: null means all, [] none)."""
    return studio.domains.set(name, **{key: getattr(body, key) for key in body.model_fields_set})


@router.delete("/{name}", response_model=DomainRemovalOut)
def remove_domain(name: str, studio: StudioDep) -> Any:
    """Remove a domain nothing belongs to or reads (admins; built-in domains stay)."""
    return studio.domains.remove(name)
