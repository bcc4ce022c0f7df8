"""``/api/v1/audit``: the append-only audit log, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.common import IsoTime, Page
from mlstudio.api.schemas.governance import AuditEventOut

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEventOut])
def list_audit(
    studio: StudioDep,
    page: Paging,
    since: Annotated[IsoTime | None, Query(description="At or after this time (ISO)")] = None,
    user: Annotated[str | None, Query(alias="actor", description="Only this user")] = None,
    action: Annotated[str | None, Query(description="Action or prefix, e.g. tag")] = None,
) -> dict[str, Any]:
    """Audit events; stewards and admins see everyone's, others only their own."""
    events = studio.audit.list(
        since=since, actor=user, action=action, limit=page.limit, offset=page.offset
    )
    return page.page(events)
