"""Users and grants: who exists and which roles they hold."""

from __future__ import annotations

from mlstudio.core.ids import validate_namespace, validate_user
from mlstudio.errors import ConflictError, InvalidInputError, NotFoundError, StateError
from mlstudio.governance.audit import guarded
from mlstudio.governance.policy import validate_domain
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

        return guarded(self.store, actor, "user.add", f"user:{name}", work)

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
            "disabled": bool(record and record.disabled),
            "grants": [g.to_dict() for g in grants],
        }

    def grant(self, actor: str, user: str, role: str, scope_kind: str, scope: str = "") -> bool:
        """Grant ``role`` on a platform, namespace or (existing) domain scope."""
        _validate_scope(role, scope_kind, scope)

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
                if scope_kind == "domain":
                    _require_domain_exists(uow, scope)
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

        context = {"role": role, "scope_kind": scope_kind, "scope": scope}
        return guarded(self.store, actor, "grant.add", f"user:{user}", work, context)

    def revoke(self, actor: str, user: str, role: str, scope_kind: str, scope: str = "") -> bool:
        """Remove a grant (same rights as granting it); False when there was none.

        An admin may not remove their own admin role, so a home always keeps one admin.
        """
        _validate_scope(role, scope_kind, scope)

        def work(uow) -> bool:
            auth = Authorizer(uow.identity)
            if scope_kind == "namespace":
                auth.require_namespace(actor, scope, "revoke roles", ("owner",))
            else:
                auth.require_admin(actor, f"revoke {scope_kind} roles")
            if scope_kind == "platform" and role == "admin" and user == actor:
                raise StateError(
                    f"{actor} may not remove their own admin role",
                    hint="ask another admin to do it",
                )
            removed = uow.identity.revoke(user, role, scope_kind, scope)
            if removed:
                uow.audit.record(
                    actor,
                    "grant.revoke",
                    f"user:{user}",
                    details={"role": role, "scope_kind": scope_kind, "scope": scope},
                )
            return removed

        context = {"role": role, "scope_kind": scope_kind, "scope": scope}
        return guarded(self.store, actor, "grant.revoke", f"user:{user}", work, context)

    def set_disabled(self, actor: str, name: str, disabled: bool) -> UserRecord:
        """Disable (or enable) a user (admins only): a disabled user can neither
        authenticate nor act, and keeps their grants for when they are enabled again."""
        validate_user(name)
        verb = "disable" if disabled else "enable"

        def work(uow) -> UserRecord:
            Authorizer(uow.identity).require_admin(actor, f"{verb} users")
            record = uow.identity.get_user(name)
            if record is None:
                raise NotFoundError(
                    f"user {name} does not exist", hint="see the users: mlstudio user list"
                )
            if disabled and name == actor:
                raise StateError(
                    f"{actor} may not disable themselves",
                    hint="ask another admin to do it",
                )
            if record.disabled != disabled:
                uow.identity.set_disabled(name, disabled)
                uow.audit.record(actor, f"user.{verb}", f"user:{name}")
            found = uow.identity.get_user(name)
            assert found is not None
            return found

        return guarded(self.store, actor, f"user.{verb}", f"user:{name}", work)

    def disable(self, actor: str, name: str) -> UserRecord:
        return self.set_disabled(actor, name, True)

    def enable(self, actor: str, name: str) -> UserRecord:
        return self.set_disabled(actor, name, False)


def _validate_scope(role: str, scope_kind: str, scope: str) -> None:
    if scope_kind not in ("platform", "namespace", "domain"):
        raise InvalidInputError(
            f"unknown scope kind {scope_kind!r}", hint="use platform, namespace or domain"
        )
    validate_role(role, scope_kind)
    if scope_kind == "platform":
        if scope:
            raise InvalidInputError("platform roles take no scope")
    elif scope_kind == "namespace":
        validate_namespace(scope)
    else:
        validate_domain(scope)


def _require_domain_exists(uow, name: str) -> None:
    from mlstudio.governance.domains import load_policy

    load_policy(uow, name)
