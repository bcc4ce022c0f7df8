from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from mlstudio.core.clock import utcnow
from mlstudio.governance.records import GrantRecord, UserRecord
from mlstudio.store.metadata.tables import role_grants, users


def _user(r) -> UserRecord:
    return UserRecord(
        name=r.name, created_at=r.created_at, created_by=r.created_by, disabled=r.disabled
    )


def _grant(r) -> GrantRecord:
    return GrantRecord(
        user=r.user_name,
        role=r.role,
        scope_kind=r.scope_kind,
        scope=r.scope,
        granted_by=r.granted_by,
        created_at=r.created_at,
    )


class IdentityRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get_user(self, name: str) -> UserRecord | None:
        row = self.conn.execute(select(users).where(users.c.name == name)).first()
        return _user(row) if row else None

    def add_user(self, name: str, created_by: str | None) -> UserRecord:
        self.conn.execute(
            insert(users).values(
                name=name, created_at=utcnow(), created_by=created_by, disabled=False
            )
        )
        user = self.get_user(name)
        assert user is not None
        return user

    def set_disabled(self, name: str, disabled: bool) -> None:
        self.conn.execute(update(users).where(users.c.name == name).values(disabled=disabled))

    def list_users(self, *, limit: int = 1000, offset: int = 0) -> list[UserRecord]:
        q = select(users).order_by(users.c.name).limit(limit).offset(offset)
        return [_user(r) for r in self.conn.execute(q)]

    def grants_of(self, user: str) -> list[GrantRecord]:
        q = select(role_grants).where(role_grants.c.user_name == user).order_by(role_grants.c.id)
        return [_grant(r) for r in self.conn.execute(q)]

    def grants_on(self, scope_kind: str, scope: str) -> list[GrantRecord]:
        q = (
            select(role_grants)
            .where(role_grants.c.scope_kind == scope_kind, role_grants.c.scope == scope)
            .order_by(role_grants.c.id)
        )
        return [_grant(r) for r in self.conn.execute(q)]

    def has_grant(self, user: str, roles: tuple[str, ...], scope_kind: str, scope: str) -> bool:
        q = select(role_grants.c.id).where(
            role_grants.c.user_name == user,
            role_grants.c.role.in_(roles),
            role_grants.c.scope_kind == scope_kind,
            role_grants.c.scope == scope,
        )
        return self.conn.execute(q.limit(1)).first() is not None

    def grant(
        self, user: str, role: str, scope_kind: str, scope: str, granted_by: str | None
    ) -> bool:
        """Add a grant; returns False when it already existed."""
        if self.has_grant(user, (role,), scope_kind, scope):
            return False
        self.conn.execute(
            insert(role_grants).values(
                user_name=user,
                role=role,
                scope_kind=scope_kind,
                scope=scope,
                granted_by=granted_by,
                created_at=utcnow(),
            )
        )
        return True

    def revoke(self, user: str, role: str, scope_kind: str, scope: str) -> bool:
        result = self.conn.execute(
            delete(role_grants).where(
                role_grants.c.user_name == user,
                role_grants.c.role == role,
                role_grants.c.scope_kind == scope_kind,
                role_grants.c.scope == scope,
            )
        )
        return bool(result.rowcount)
