"""Tokens, domains, datasets and declassifiers (SQLAlchemy Core, both databases)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from mlstudio.core.clock import utcnow
from mlstudio.data.records import DatasetRecord, DeclassifierRecord, TokenRecord
from mlstudio.store.metadata.tables import (
    api_tokens,
    datasets,
    declassifiers,
    deleted_versions,
    domains,
)


def _token(r) -> TokenRecord:
    return TokenRecord(
        id=r.id,
        user=r.user_name,
        description=r.description,
        created_by=r.created_by,
        created_at=r.created_at,
        expires_at=r.expires_at,
        revoked_at=r.revoked_at,
        last_used_at=r.last_used_at,
    )


class TokenRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(
        self,
        token_id: str,
        user: str,
        token_hash: str,
        created_by: str,
        expires_at: datetime | None,
        description: str = "",
    ) -> TokenRecord:
        self.conn.execute(
            insert(api_tokens).values(
                id=token_id,
                user_name=user,
                token_hash=token_hash,
                description=description,
                created_by=created_by,
                created_at=utcnow(),
                expires_at=expires_at,
            )
        )
        found = self.get(token_id)
        assert found is not None
        return found

    def get(self, token_id: str) -> TokenRecord | None:
        r = self.conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        return _token(r) if r else None

    def by_hash(self, token_hash: str) -> TokenRecord | None:
        r = self.conn.execute(
            select(api_tokens).where(api_tokens.c.token_hash == token_hash)
        ).first()
        return _token(r) if r else None

    def list(self, user: str | None = None) -> list[TokenRecord]:
        q = select(api_tokens).order_by(api_tokens.c.created_at)
        if user:
            q = q.where(api_tokens.c.user_name == user)
        return [_token(r) for r in self.conn.execute(q)]

    def revoke(self, token_id: str) -> None:
        self.conn.execute(
            update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=utcnow())
        )

    def touch(self, token_id: str) -> None:
        self.conn.execute(
            update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=utcnow())
        )


class DomainRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, name: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(domains.c.policy).where(domains.c.name == name)).first()
        return dict(r.policy) if r else None

    def list(self) -> list[dict[str, Any]]:
        return [
            dict(r.policy)
            for r in self.conn.execute(select(domains.c.policy).order_by(domains.c.name))
        ]

    def put(self, name: str, policy: dict[str, Any], actor: str) -> None:
        if self.get(name) is None:
            self.conn.execute(
                insert(domains).values(
                    name=name, policy=policy, updated_by=actor, updated_at=utcnow()
                )
            )
        else:
            self.conn.execute(
                update(domains)
                .where(domains.c.name == name)
                .values(policy=policy, updated_by=actor, updated_at=utcnow())
            )

    def delete(self, name: str) -> None:
        self.conn.execute(delete(domains).where(domains.c.name == name))


def _dataset(r) -> DatasetRecord:
    return DatasetRecord(
        full_name=r.full_name,
        namespace=r.namespace,
        version=r.version,
        digest=r.digest,
        domain=r.domain,
        num_rows=r.num_rows,
        size_bytes=r.size_bytes,
        columns=list(r.columns),
        source=dict(r.source),
        created_by=r.created_by,
        created_at=r.created_at,
    )


class DatasetRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, full_name: str, version: int | None = None) -> DatasetRecord | None:
        """A version, or the newest one when ``version`` is None."""
        q = select(datasets).where(datasets.c.full_name == full_name)
        q = (
            q.where(datasets.c.version == version)
            if version is not None
            else q.order_by(datasets.c.version.desc()).limit(1)
        )
        r = self.conn.execute(q).first()
        return _dataset(r) if r else None

    def versions(self, full_name: str) -> list[DatasetRecord]:
        q = select(datasets).where(datasets.c.full_name == full_name).order_by(datasets.c.version)
        return [_dataset(r) for r in self.conn.execute(q)]

    def create_version(self, values: dict[str, Any]) -> DatasetRecord:
        """Insert the next version of ``values["full_name"]`` (unique (name, version) guards races);
        numbers of deleted versions are never given out again."""
        current = self.conn.execute(
            select(func.max(datasets.c.version)).where(datasets.c.full_name == values["full_name"])
        ).scalar()
        deleted = self.conn.execute(
            select(func.max(deleted_versions.c.version)).where(
                deleted_versions.c.kind == "dataset",
                deleted_versions.c.name == values["full_name"],
            )
        ).scalar()
        number = max(current or 0, deleted or 0) + 1
        self.conn.execute(insert(datasets).values(version=number, created_at=utcnow(), **values))
        found = self.get(values["full_name"], number)
        assert found is not None
        return found

    def update_columns(self, full_name: str, version: int, columns: list[dict[str, Any]]) -> None:
        self.conn.execute(
            update(datasets)
            .where(datasets.c.full_name == full_name, datasets.c.version == version)
            .values(columns=columns)
        )

    def list(
        self,
        namespace: str | None = None,
        search: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[DatasetRecord]:
        """The newest version of every dataset."""
        newest = (
            select(datasets.c.full_name, func.max(datasets.c.version).label("version"))
            .group_by(datasets.c.full_name)
            .subquery()
        )
        q = (
            select(datasets)
            .join(
                newest,
                (newest.c.full_name == datasets.c.full_name)
                & (newest.c.version == datasets.c.version),
            )
            .order_by(datasets.c.full_name)
            .limit(limit)
            .offset(offset)
        )
        if namespace:
            q = q.where(datasets.c.namespace == namespace)
        if search:
            q = q.where(datasets.c.full_name.contains(search, autoescape=True))
        return [_dataset(r) for r in self.conn.execute(q)]

    def produced_by(self, run_id: str) -> list[DatasetRecord]:
        q = select(datasets).where(datasets.c.source["run_id"].as_string() == run_id)
        return [_dataset(r) for r in self.conn.execute(q)]


def _declassifier(r) -> DeclassifierRecord:
    return DeclassifierRecord(
        id=r.id,
        module=r.module,
        task=r.task,
        code_digest=r.code_digest,
        columns=list(r.columns),
        lower_to=r.lower_to,
        remove_labels=list(r.remove_labels),
        justification=r.justification,
        state=r.state,
        created_by=r.created_by,
        created_at=r.created_at,
        approved_by=r.approved_by,
        approved_at=r.approved_at,
    )


class DeclassifierRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(self, values: dict[str, Any]) -> DeclassifierRecord:
        self.conn.execute(
            insert(declassifiers).values(state="pending", created_at=utcnow(), **values)
        )
        found = self.get(values["id"])
        assert found is not None
        return found

    def get(self, declassifier_id: str) -> DeclassifierRecord | None:
        r = self.conn.execute(
            select(declassifiers).where(declassifiers.c.id == declassifier_id)
        ).first()
        return _declassifier(r) if r else None

    def list(
        self, module: str | None = None, task: str | None = None, state: str | None = None
    ) -> list[DeclassifierRecord]:
        q = select(declassifiers).order_by(declassifiers.c.created_at)
        if module:
            q = q.where(declassifiers.c.module == module)
        if task:
            q = q.where(declassifiers.c.task == task)
        if state:
            q = q.where(declassifiers.c.state == state)
        return [_declassifier(r) for r in self.conn.execute(q)]

    def set_state(self, declassifier_id: str, state: str, approved_by: str | None = None) -> None:
        values: dict[str, Any] = {"state": state}
        if approved_by:
            values.update(approved_by=approved_by, approved_at=utcnow())
        self.conn.execute(
            update(declassifiers).where(declassifiers.c.id == declassifier_id).values(**values)
        )

    def applicable(self, pairs: list[tuple[str, str]]) -> list[DeclassifierRecord]:
        """Approved declassifiers for any of the (module, task) pairs (digest checked by caller)."""
        if not pairs:
            return []
        cond = or_(*[(declassifiers.c.module == m) & (declassifiers.c.task == t) for m, t in pairs])
        q = select(declassifiers).where(declassifiers.c.state == "approved", cond)
        return [_declassifier(r) for r in self.conn.execute(q)]
