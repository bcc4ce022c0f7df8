"""Feature view versions, usages and materializations (SQLAlchemy Core, both databases)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from mlstudio.core.clock import utcnow
from mlstudio.store.metadata.tables import (
    feature_materializations,
    feature_usages,
    feature_views,
)


def _row(r: Any) -> dict[str, Any] | None:
    return dict(r._mapping) if r is not None else None


class FeatureRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- views --------------------------------------------------------------------------------
    def latest(self, full_name: str) -> dict[str, Any] | None:
        r = self.conn.execute(
            select(feature_views)
            .where(feature_views.c.full_name == full_name)
            .order_by(feature_views.c.version.desc())
            .limit(1)
        ).first()
        return _row(r)

    def get(self, full_name: str, version: int) -> dict[str, Any] | None:
        r = self.conn.execute(
            select(feature_views).where(
                feature_views.c.full_name == full_name, feature_views.c.version == version
            )
        ).first()
        return _row(r)

    def versions(self, full_name: str) -> list[int]:
        rows = self.conn.execute(
            select(feature_views.c.version)
            .where(feature_views.c.full_name == full_name)
            .order_by(feature_views.c.version)
        )
        return [r.version for r in rows]

    def add_version(self, values: dict[str, Any]) -> dict[str, Any]:
        """The next version of ``values["full_name"]`` (unique (name, version) guards races)."""
        current = self.conn.execute(
            select(func.max(feature_views.c.version)).where(
                feature_views.c.full_name == values["full_name"]
            )
        ).scalar()
        number = (current or 0) + 1
        self.conn.execute(
            insert(feature_views).values(version=number, created_at=utcnow(), **values)
        )
        found = self.get(values["full_name"], number)
        assert found is not None
        return found

    def list_latest(self, namespace: str | None = None) -> list[dict[str, Any]]:
        newest = (
            select(feature_views.c.full_name, func.max(feature_views.c.version).label("v"))
            .group_by(feature_views.c.full_name)
            .subquery()
        )
        query = select(feature_views).join(
            newest,
            (feature_views.c.full_name == newest.c.full_name)
            & (feature_views.c.version == newest.c.v),
        )
        if namespace is not None:
            query = query.where(feature_views.c.namespace == namespace)
        rows = self.conn.execute(query.order_by(feature_views.c.full_name))
        return [dict(r._mapping) for r in rows]

    # --- usages -------------------------------------------------------------------------------
    def record_usage(
        self, full_name: str, version: int, consumer: str, features: list[str], actor: str
    ) -> None:
        self.conn.execute(
            insert(feature_usages).values(
                full_name=full_name,
                version=version,
                consumer=consumer,
                features=features,
                used_by=actor,
                used_at=utcnow(),
            )
        )

    def usages(self, full_name: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(feature_usages)
            .where(feature_usages.c.full_name == full_name)
            .order_by(feature_usages.c.id)
        )
        return [dict(r._mapping) for r in rows]

    # --- materializations ---------------------------------------------------------------------
    def record_materialization(self, values: dict[str, Any]) -> None:
        self.conn.execute(insert(feature_materializations).values(**values))

    def last_materialization(
        self, full_name: str, version: int, store: str
    ) -> dict[str, Any] | None:
        r = self.conn.execute(
            select(feature_materializations)
            .where(
                feature_materializations.c.full_name == full_name,
                feature_materializations.c.version == version,
                feature_materializations.c.store == store,
            )
            .order_by(feature_materializations.c.id.desc())
            .limit(1)
        ).first()
        return _row(r)

    def watermark(self, full_name: str, version: int, store: str) -> datetime | None:
        last = self.last_materialization(full_name, version, store)
        return last["watermark"] if last else None
