"""``/api/v1/domains``: execution domains and their data policies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import Actor, Paging, PlatformDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.governance import DomainOut, DomainSetIn, DomainShowOut

router = APIRouter(prefix="/domains", tags=["domains"])

_LISTS = ("readable_labels", "denied_labels", "readable_domains")


@router.get("", response_model=Page[DomainOut])
def list_domains(platform: PlatformDep, page: Paging) -> dict[str, Any]:
    """Every domain with its policy."""
    return page.page(page.slice([d.to_dict() for d in platform.domains.list()]))


@router.get("/{name}", response_model=DomainShowOut)
def show_domain(name: str, platform: PlatformDep) -> dict[str, Any]:
    """A domain's policy and members."""
    policy = platform.domains.get(name).to_dict()
    members = [
        {"user": g.user, "role": g.role, "granted_by": g.granted_by}
        for g in platform.domains.members(name)
    ]
    return {**policy, "members": members}


@router.put("/{name}", response_model=DomainOut)
def set_domain(name: str, body: DomainSetIn, platform: PlatformDep, actor: Actor) -> Any:
    """Change a domain's policy, or create a domain (admins). Omitted fields stay as they are."""
    from mlstudio.governance.domains import UNCHANGED

    given = body.model_fields_set
    lists = {key: getattr(body, key) if key in given else UNCHANGED for key in _LISTS}
    policy = platform.domains.set(
        actor,
        name,
        clearance=body.clearance,
        may_persist=body.may_persist,
        promoted_only=body.promoted_only,
        pseudonymous_readable=body.pseudonymous_readable,
        description=body.description,
        **lists,
    )
    return policy.to_dict()
