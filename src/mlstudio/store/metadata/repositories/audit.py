from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from mlstudio.core.clock import utcnow
from mlstudio.governance.records import AuditEvent
from mlstudio.store.metadata.tables import audit_events


class AuditRepository:
    """Append-only: there is no update or delete here by design."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def record(
        self,
        actor: str,
        action: str,
        resource: str = "",
        *,
        decision: str = "allow",
        details: dict[str, Any] | None = None,
    ) -> None:
        self.conn.execute(
            insert(audit_events).values(
                at=utcnow(),
                actor=actor,
                action=action,
                resource=resource,
                decision=decision,
                details=details or {},
            )
        )

    def list(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        resource_prefix: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEvent]:
        q = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit).offset(offset)
        if since is not None:
            q = q.where(audit_events.c.at >= since)
        if actor:
            q = q.where(audit_events.c.actor == actor)
        if action:
            q = q.where(audit_events.c.action.like(f"{action}%"))
        if resource_prefix:
            q = q.where(audit_events.c.resource.like(f"{resource_prefix}%"))
        return [
            AuditEvent(
                id=r.id,
                at=r.at,
                actor=r.actor,
                action=r.action,
                resource=r.resource,
                decision=r.decision,
                details=r.details,
            )
            for r in self.conn.execute(q)
        ]
