"""Rows of the deployments (plain dicts): the desired state and what the supervisor saw."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from mlstudio.core.clock import utcnow
from mlstudio.store.metadata.tables import deployments


class DeploymentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, name: str, *, for_update: bool = False) -> dict[str, Any] | None:
        q = select(deployments).where(deployments.c.name == name)
        if for_update and self.conn.dialect.name == "postgresql":
            q = q.with_for_update()
        r = self.conn.execute(q).first()
        return dict(r._mapping) if r is not None else None

    def all(self) -> list[dict[str, Any]]:
        q = select(deployments).order_by(deployments.c.name)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def put(self, values: dict[str, Any], actor: str) -> dict[str, Any]:
        """Create the deployment or change its desired state (``revision`` + 1)."""
        now = utcnow()
        existing = self.get(values["name"], for_update=True)
        if existing is None:
            row = {
                **values,
                "desired": "running",
                "revision": 1,
                "created_by": actor,
                "created_at": now,
                "updated_by": actor,
                "updated_at": now,
                "status": "pending",
                "restarts": 0,
            }
            self.conn.execute(insert(deployments).values(**row))
        else:
            row = {
                **values,
                "desired": "running",
                "revision": int(existing["revision"]) + 1,
                "updated_by": actor,
                "updated_at": now,
            }
            self.conn.execute(
                update(deployments).where(deployments.c.name == values["name"]).values(**row)
            )
        found = self.get(values["name"])
        assert found is not None
        return found

    def mark_removed(self, name: str, actor: str) -> None:
        self.conn.execute(
            update(deployments)
            .where(deployments.c.name == name)
            .values(
                desired="removed",
                revision=deployments.c.revision + 1,
                updated_by=actor,
                updated_at=utcnow(),
            )
        )

    def delete(self, name: str) -> bool:
        return bool(
            self.conn.execute(delete(deployments).where(deployments.c.name == name)).rowcount
        )

    def claim(self, name: str, supervisor: str, stale_before: datetime) -> bool:
        """Take ``name`` for ``supervisor`` unless another live supervisor holds it."""
        now = utcnow()
        result = self.conn.execute(
            update(deployments)
            .where(
                and_(
                    deployments.c.name == name,
                    or_(
                        deployments.c.supervisor.is_(None),
                        deployments.c.supervisor == supervisor,
                        deployments.c.heartbeat_at.is_(None),
                        deployments.c.heartbeat_at < stale_before,
                    ),
                )
            )
            .values(supervisor=supervisor, heartbeat_at=now)
        )
        return bool(result.rowcount)

    def observe(self, name: str, supervisor: str, **values: Any) -> None:
        """The supervisor's view of ``name`` (only while it holds the deployment)."""
        now = utcnow()
        self.conn.execute(
            update(deployments)
            .where(and_(deployments.c.name == name, deployments.c.supervisor == supervisor))
            .values(**values, heartbeat_at=now, status_at=now)
        )

    def release(self, supervisor: str) -> None:
        self.conn.execute(
            update(deployments)
            .where(deployments.c.supervisor == supervisor)
            .values(
                supervisor=None,
                heartbeat_at=None,
                pid=None,
                status="pending",
                reason="its server stopped; the next mlstudio server starts it again",
                status_at=utcnow(),
            )
        )
