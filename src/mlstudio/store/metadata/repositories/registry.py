"""Rows of the model registry (plain dicts; the service builds the views)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from mlstudio.core.clock import utcnow
from mlstudio.store.metadata.tables import (
    model_alias_events,
    model_aliases,
    model_approvals,
    model_reads,
    registered_model_versions,
    registered_models,
)

models_t = registered_models
versions_t = registered_model_versions


def _row(r: Any) -> dict[str, Any] | None:
    return dict(r._mapping) if r is not None else None


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


class RegistryRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- registered models ----------------------------------------------------------------
    def get_model(self, name: str, *, for_update: bool = False) -> dict[str, Any] | None:
        query = select(models_t).where(models_t.c.name == name)
        if for_update and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        return _row(self.conn.execute(query).first())

    def create_model(
        self,
        name: str,
        owner: str,
        *,
        namespace: str | None = None,
        description: str = "",
        protected: list[str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        now = utcnow()
        self.conn.execute(
            insert(models_t).values(
                name=name,
                namespace=namespace,
                owner=owner,
                description=description,
                protected_aliases=list(protected if protected is not None else ["champion"]),
                tags=dict(tags or {}),
                latest_version=0,
                created_at=now,
                updated_at=now,
            )
        )
        found = self.get_model(name)
        assert found is not None
        return found

    def update_model(self, model_id: int, **values: Any) -> None:
        values.setdefault("updated_at", utcnow())
        self.conn.execute(update(models_t).where(models_t.c.id == model_id).values(**values))

    def list_models(
        self, search: str | None, limit: int, offset: int, names: list[str] | None = None
    ) -> list[dict[str, Any]]:
        query = select(models_t).order_by(models_t.c.name).limit(limit).offset(offset)
        if search:
            like = f"%{search.lower()}%"
            query = query.where(
                or_(
                    func.lower(models_t.c.name).like(like),
                    func.lower(models_t.c.description).like(like),
                )
            )
        if names is not None:
            query = query.where(models_t.c.name.in_(names))
        return _rows(self.conn.execute(query))

    def delete_model(self, model_id: int) -> None:
        from mlstudio.store.metadata.repositories.evaluation import EvaluationRepository

        EvaluationRepository(self.conn).remove_gates_of(model_id)
        for table in (model_reads, model_approvals, model_alias_events, model_aliases, versions_t):
            self.conn.execute(delete(table).where(table.c.model_id == model_id))
        self.conn.execute(delete(models_t).where(models_t.c.id == model_id))

    # --- versions ---------------------------------------------------------------------------
    def add_version(self, model: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """The model's next version (the caller holds the model row for update)."""
        number = int(model["latest_version"]) + 1
        now = utcnow()
        row = {
            "description": "",
            "tags": {},
            "lineage": {},
            **values,
            "model_id": model["id"],
            "version": number,
            "created_at": now,
            "updated_at": now,
        }
        self.conn.execute(insert(versions_t).values(**row))
        self.update_model(model["id"], latest_version=number, updated_at=now)
        found = self.get_version(model["id"], number)
        assert found is not None
        return found

    def get_version(self, model_id: int, version: int) -> dict[str, Any] | None:
        query = select(versions_t).where(
            versions_t.c.model_id == model_id, versions_t.c.version == version
        )
        return _row(self.conn.execute(query).first())

    def update_version(self, model_id: int, version: int, **values: Any) -> None:
        values.setdefault("updated_at", utcnow())
        self.conn.execute(
            update(versions_t)
            .where(versions_t.c.model_id == model_id, versions_t.c.version == version)
            .values(**values)
        )

    def versions(self, model_id: int, limit: int | None = None) -> list[dict[str, Any]]:
        query = (
            select(versions_t)
            .where(versions_t.c.model_id == model_id)
            .order_by(versions_t.c.version.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        return _rows(self.conn.execute(query))

    def search_versions(
        self, name: str | None, run_id: str | None, limit: int, offset: int
    ) -> list[tuple[str, dict[str, Any]]]:
        """(model name, version row) by name and version, newest first."""
        query = (
            select(models_t.c.name, versions_t)
            .join(models_t, models_t.c.id == versions_t.c.model_id)
            .order_by(models_t.c.name, versions_t.c.version.desc())
            .limit(limit)
            .offset(offset)
        )
        if name is not None:
            query = query.where(models_t.c.name == name)
        if run_id is not None:
            query = query.where(versions_t.c.run_id == run_id)
        out = []
        for r in self.conn.execute(query):
            data = dict(r._mapping)
            out.append((data.pop("name"), data))
        return out

    # --- aliases ----------------------------------------------------------------------------
    def aliases(self, model_id: int) -> list[dict[str, Any]]:
        query = (
            select(model_aliases)
            .where(model_aliases.c.model_id == model_id)
            .order_by(model_aliases.c.alias)
        )
        return _rows(self.conn.execute(query))

    def get_alias(self, model_id: int, alias: str) -> dict[str, Any] | None:
        query = select(model_aliases).where(
            model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
        )
        return _row(self.conn.execute(query).first())

    def set_alias(self, model_id: int, alias: str, version: int, actor: str) -> dict[str, Any]:
        """Point ``alias`` at ``version`` and record the move; returns the event."""
        now = utcnow()
        current = self.get_alias(model_id, alias)
        if current is None:
            self.conn.execute(
                insert(model_aliases).values(
                    model_id=model_id,
                    alias=alias,
                    version=version,
                    updated_by=actor,
                    updated_at=now,
                )
            )
        else:
            self.conn.execute(
                update(model_aliases)
                .where(model_aliases.c.id == current["id"])
                .values(version=version, updated_by=actor, updated_at=now)
            )
        return self._event(
            model_id, alias, current["version"] if current else None, version, actor, now
        )

    def delete_alias(self, model_id: int, alias: str, actor: str) -> dict[str, Any] | None:
        current = self.get_alias(model_id, alias)
        if current is None:
            return None
        self.conn.execute(delete(model_aliases).where(model_aliases.c.id == current["id"]))
        return self._event(model_id, alias, current["version"], None, actor, utcnow())

    def _event(
        self,
        model_id: int,
        alias: str,
        from_version: int | None,
        to_version: int | None,
        actor: str,
        at: datetime,
    ) -> dict[str, Any]:
        values = {
            "model_id": model_id,
            "alias": alias,
            "from_version": from_version,
            "to_version": to_version,
            "actor": actor,
            "at": at,
        }
        self.conn.execute(insert(model_alias_events).values(**values))
        return values

    def alias_history(
        self, model_id: int, alias: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        query = (
            select(model_alias_events)
            .where(model_alias_events.c.model_id == model_id)
            .order_by(model_alias_events.c.at.desc(), model_alias_events.c.id.desc())
            .limit(limit)
        )
        if alias is not None:
            query = query.where(model_alias_events.c.alias == alias)
        return _rows(self.conn.execute(query))

    def alias_at(self, model_id: int, alias: str, at: datetime) -> dict[str, Any] | None:
        """The last move of ``alias`` at or before ``at`` (None: it pointed nowhere then)."""
        query = (
            select(model_alias_events)
            .where(
                model_alias_events.c.model_id == model_id,
                model_alias_events.c.alias == alias,
                model_alias_events.c.at <= at,
            )
            .order_by(model_alias_events.c.at.desc(), model_alias_events.c.id.desc())
            .limit(1)
        )
        return _row(self.conn.execute(query).first())

    # --- approvals --------------------------------------------------------------------------
    def add_decision(self, values: dict[str, Any]) -> dict[str, Any]:
        values = {**values, "at": values.get("at") or utcnow()}
        self.conn.execute(insert(model_approvals).values(**values))
        return values

    def decisions(self, model_id: int, version: int | None = None) -> list[dict[str, Any]]:
        query = (
            select(model_approvals)
            .where(model_approvals.c.model_id == model_id)
            .order_by(model_approvals.c.at.desc(), model_approvals.c.id.desc())
        )
        if version is not None:
            query = query.where(model_approvals.c.version == version)
        return _rows(self.conn.execute(query))

    # --- reads ------------------------------------------------------------------------------
    def record_read(self, values: dict[str, Any]) -> None:
        self.conn.execute(insert(model_reads).values(**{**values, "at": utcnow()}))

    def reads(self, model_id: int, limit: int = 20) -> list[dict[str, Any]]:
        query = (
            select(model_reads)
            .where(model_reads.c.model_id == model_id)
            .order_by(model_reads.c.at.desc(), model_reads.c.id.desc())
            .limit(limit)
        )
        return _rows(self.conn.execute(query))
