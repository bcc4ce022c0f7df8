"""Rows of the feature flags (plain dicts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from mlstudio.core.clock import utcnow
from mlstudio.store.metadata.tables import feature_flags


class FlagRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, key: str, *, for_update: bool = False) -> dict[str, Any] | None:
        q = select(feature_flags).where(feature_flags.c.key == key)
        if for_update and self.conn.dialect.name == "postgresql":
            q = q.with_for_update()
        r = self.conn.execute(q).first()
        return dict(r._mapping) if r is not None else None

    def all(self) -> list[dict[str, Any]]:
        q = select(feature_flags).order_by(feature_flags.c.key)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def put(self, values: dict[str, Any], actor: str) -> dict[str, Any]:
        now = utcnow()
        existing = self.get(values["key"], for_update=True)
        revision = int(existing["revision"]) + 1 if existing else 1  # per flag
        row = {**values, "revision": revision, "updated_by": actor, "updated_at": now}
        if existing is None:
            self.conn.execute(insert(feature_flags).values(**row, created_at=now))
        else:
            self.conn.execute(
                update(feature_flags).where(feature_flags.c.key == values["key"]).values(**row)
            )
        found = self.get(values["key"])
        assert found is not None
        return found

    def remove(self, key: str) -> bool:
        result = self.conn.execute(delete(feature_flags).where(feature_flags.c.key == key))
        return bool(result.rowcount)
