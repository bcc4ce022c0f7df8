"""Users and grants: who exists and which roles they hold."""

from __future__ import annotations

from mlstudio.core.ids import validate_user
from mlstudio.errors import ConflictError, NotFoundError
from mlstudio.governance.rbac import Authorizer, validate_role
from mlstudio.governance.records import GrantRecord, UserRecord
from mlstudio.store.metadata.store import MetadataStore


class IdentityService:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def bootstrap(self, user: str) -> bool:
        """Make ``user`` the first admin of an empty installation; False if users exist."""
        validate_user(user)
        with self.store.read() as uow:
            if uow.identity.list_users(limit=1):
                return False  # the common case: no write transaction at all

        def work(uow) -> bool:
            if uow.identity.list_users(limit=1):
                return False
            uow.identity.add_user(user, created_by=None)
            uow.identity.grant(user, "admin", "platform", "", granted_by=None)
            uow.audit.record(user, "user.bootstrap", f"user:{user}", details={"role": "admin"})
            return True

        return self.store.retrying(work)

    def add_user(self, actor: str, name: str, role: str | None = None) -> UserRecord:
        validate_user(name)
        if role:
            validate_role(role, "platform")

        def work(uow) -> UserRecord:
            Authorizer(uow.identity).require_admin(actor, "add users")
            if uow.identity.get_user(name):
                raise ConflictError(
                    f"user {name} already exists", hint="use `mlstudio user grant` to change roles"
                )
            record = uow.identity.add_user(name, created_by=actor)
            uow.audit.record(actor, "user.add", f"user:{name}")
            if role:
                uow.identity.grant(name, role, "platform", "", granted_by=actor)
                uow.audit.record(
                    actor, "grant.add", f"user:{name}", details={"role": role, "scope": "platform"}
                )
            return record

        return self.store.retrying(work)

    def list_users(self) -> list[tuple[UserRecord, list[GrantRecord]]]:
        with self.store.read() as uow:
            return [(u, uow.identity.grants_of(u.name)) for u in uow.identity.list_users()]

    def whoami(self, user: str) -> dict:
        with self.store.read() as uow:
            record = uow.identity.get_user(user)
            grants = uow.identity.grants_of(user) if record else []
        return {
            "user": user,
            "registered": record is not None,
            "grants": [g.to_dict() for g in grants],
        }

    def grant(self, actor: str, user: str, role: str, scope_kind: str, scope: str = "") -> bool:
        validate_role(role, scope_kind)

        def work(uow) -> bool:
            auth = Authorizer(uow.identity)
            if scope_kind == "namespace":
                if not uow.modules.get_namespace(scope):
                    raise NotFoundError(
                        f"namespace {scope} does not exist",
                        hint=f"mlstudio namespace create {scope}",
                    )
                auth.require_namespace(actor, scope, "grant roles", ("owner",))
            else:
                auth.require_admin(actor, f"grant {scope_kind} roles")
            if not uow.identity.get_user(user):
                raise NotFoundError(
                    f"user {user} does not exist", hint=f"add it first: mlstudio user add {user}"
                )
            added = uow.identity.grant(user, role, scope_kind, scope, granted_by=actor)
            uow.audit.record(
                actor,
                "grant.add",
                f"user:{user}",
                details={"role": role, "scope_kind": scope_kind, "scope": scope},
            )
            return added

        return self.store.retrying(work)
