"""Users and their grants, API tokens, and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlstudio.app.local.base import Area, page
from mlstudio.errors import InvalidInputError

if TYPE_CHECKING:
    from mlstudio.app.views import AuditEventView, GrantChangeView, TokenView, UserView, WhoamiView


def grant_scope(namespace: str | None, domain: str | None) -> tuple[str, str]:
    """The scope of a grant: a namespace, a domain, or the platform (not both)."""
    if namespace and domain:
        raise InvalidInputError("pass either --namespace or --domain, not both")
    if namespace:
        return "namespace", namespace
    if domain:
        return "domain", domain
    return "platform", ""


class LocalUsers(Area):
    def whoami(self) -> WhoamiView:
        return self.platform.identity.whoami(self.actor)  # type: ignore[return-value]

    def list(self, *, limit: int | None = None, offset: int = 0) -> list[UserView]:
        rows = [
            {**u.to_dict(), "grants": [g.to_dict() for g in grants]}
            for u, grants in self.platform.identity.list_users()
        ]
        return page(rows, limit, offset)  # type: ignore[return-value]

    def add(self, name: str, role: str | None = None) -> UserView:
        record = self.platform.identity.add_user(self.actor, name, role)
        return {**record.to_dict(), "role": role}  # type: ignore[typeddict-item]

    def grant(
        self, user: str, role: str, *, namespace: str | None = None, domain: str | None = None
    ) -> GrantChangeView:
        kind, scope = grant_scope(namespace, domain)
        added = self.platform.identity.grant(self.actor, user, role, kind, scope)
        return {"user": user, "role": role, "scope_kind": kind, "scope": scope, "added": added}

    def revoke(
        self, user: str, role: str, *, namespace: str | None = None, domain: str | None = None
    ) -> GrantChangeView:
        kind, scope = grant_scope(namespace, domain)
        removed = self.platform.identity.revoke(self.actor, user, role, kind, scope)
        return {"user": user, "role": role, "scope_kind": kind, "scope": scope, "removed": removed}

    def disable(self, name: str) -> UserView:
        return self.platform.identity.disable(self.actor, name).to_dict()  # type: ignore[return-value]

    def enable(self, name: str) -> UserView:
        return self.platform.identity.enable(self.actor, name).to_dict()  # type: ignore[return-value]


def with_state(token: dict[str, Any]) -> TokenView:
    """A token with its state now: active, expired or revoked."""
    from mlstudio.core.clock import utcnow

    state = "active"
    if token.get("revoked_at"):
        state = "revoked"
    elif token.get("expires_at"):
        expires = datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
        if expires <= utcnow():
            state = "expired"
    return {**token, "state": state}  # type: ignore[typeddict-item]


class LocalTokens(Area):
    def create(
        self, user: str | None = None, *, ttl_days: float = 90.0, description: str = ""
    ) -> TokenView:
        record, secret = self.platform.tokens.create(
            self.actor, user, ttl_days=ttl_days, description=description
        )
        return {  # type: ignore[typeddict-item]
            **with_state(record.to_dict()),
            "token": secret,
            "warning": "the token is not shown again",
        }

    def list(self, user: str | None = None) -> list[TokenView]:
        return [with_state(t.to_dict()) for t in self.platform.tokens.list(self.actor, user)]

    def revoke(self, token_id: str) -> TokenView:
        return with_state(self.platform.tokens.revoke(self.actor, token_id).to_dict())


class LocalAudit(Area):
    def list(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[AuditEventView]:
        """Audit events, newest first; stewards and admins see everyone's, others their own."""
        from mlstudio.app.local.base import check_page
        from mlstudio.governance.rbac import Authorizer

        check_page(limit, offset)
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        with self.platform.store.read() as uow:
            if not Authorizer(uow.identity).is_steward(self.actor):
                actor = self.actor
            events = uow.audit.list(
                since=since, actor=actor, action=action, limit=limit, offset=offset
            )
        return [e.to_dict() for e in events]
