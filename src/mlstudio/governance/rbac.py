"""Role checks shared by every edge (CLI, API): default deny, allowed only by an explicit grant.

Roles: platform ``admin`` and ``steward``; per namespace ``owner | maintainer | reader``;
per domain ``runner | viewer``. Admins may do everything; unregistered or disabled users nothing.
"""

from __future__ import annotations

from mlstudio.errors import InvalidInputError, PermissionDeniedError

# refusals are audited by governance/audit.py; both names stay importable from here
from mlstudio.governance.audit import guarded, record_denial
from mlstudio.governance.records import UserRecord
from mlstudio.store.metadata.repositories.identity import IdentityRepository

PLATFORM_ROLES = ("admin", "steward")
NAMESPACE_ROLES = ("owner", "maintainer", "reader")
DOMAIN_ROLES = ("runner", "viewer")

NAMESPACE_WRITE = ("owner", "maintainer")


def validate_role(role: str, scope_kind: str) -> str:
    allowed = {"platform": PLATFORM_ROLES, "namespace": NAMESPACE_ROLES, "domain": DOMAIN_ROLES}[
        scope_kind
    ]
    if role not in allowed:
        raise InvalidInputError(
            f"unknown {scope_kind} role {role!r}", hint=f"use one of: {', '.join(allowed)}"
        )
    return role


class Authorizer:
    """Answers and enforces "may USER do ACTION on SCOPE" from the grants in one transaction.

    Default deny: only an explicit grant allows, admins may do everything, and a user who is
    not registered or is disabled holds no role at all (a disabled admin is not an admin).
    """

    def __init__(self, identity: IdentityRepository) -> None:
        self.identity = identity
        self._users: dict[str, UserRecord | None] = {}

    # --- who is active ------------------------------------------------------------------------
    def user(self, name: str) -> UserRecord | None:
        """The user's record (looked up once per authorizer, i.e. per transaction)."""
        if name not in self._users:
            self._users[name] = self.identity.get_user(name)
        return self._users[name]

    def is_active(self, user: str) -> bool:
        record = self.user(user)
        return record is not None and not record.disabled

    def require_active(self, user: str, action: str) -> None:
        """Refuse unregistered and disabled users, naming which of the two it is."""
        record = self.user(user)
        if record is None:
            raise PermissionDeniedError(
                f"{user} may not {action}: {user} is not a registered user",
                hint=f"ask an admin: mlstudio user add {user}",
            )
        if record.disabled:
            raise PermissionDeniedError(
                f"{user} may not {action}: user {user} is disabled",
                hint=f"ask an admin: mlstudio user enable {user}",
            )

    # --- questions ----------------------------------------------------------------------------
    def is_admin(self, user: str) -> bool:
        return self.is_active(user) and self.identity.has_grant(user, ("admin",), "platform", "")

    def is_steward(self, user: str) -> bool:
        return self.is_active(user) and self.identity.has_grant(
            user, ("admin", "steward"), "platform", ""
        )

    def has_namespace_role(self, user: str, namespace: str, roles: tuple[str, ...]) -> bool:
        return self.is_admin(user) or (
            self.is_active(user) and self.identity.has_grant(user, roles, "namespace", namespace)
        )

    def has_domain_role(self, user: str, domain: str, roles: tuple[str, ...]) -> bool:
        return self.is_admin(user) or (
            self.is_active(user) and self.identity.has_grant(user, roles, "domain", domain)
        )

    # --- enforcement --------------------------------------------------------------------------
    def require_admin(self, user: str, action: str) -> None:
        self._require_known(user, action)
        if not self.is_admin(user):
            raise PermissionDeniedError(
                f"{user} may not {action}: it needs the platform admin role",
                hint="ask an admin to run it, or to grant you admin",
            )

    def require_steward(self, user: str, action: str) -> None:
        self._require_known(user, action)
        if not self.is_steward(user):
            raise PermissionDeniedError(
                f"{user} may not {action}: it needs the steward role",
                hint=f"ask an admin: mlstudio user grant {user} steward",
            )

    def require_namespace(
        self, user: str, namespace: str, action: str, roles: tuple[str, ...] = NAMESPACE_WRITE
    ) -> None:
        self._require_known(user, action)
        if not self.has_namespace_role(user, namespace, roles):
            raise PermissionDeniedError(
                f"{user} may not {action} in namespace {namespace}: it needs {' or '.join(roles)}",
                hint=f"ask an owner: mlstudio namespace grant {namespace} {user} maintainer",
            )

    def require_domain(self, user: str, domain: str, roles: tuple[str, ...], action: str) -> None:
        """Allow ``action`` in ``domain`` only to an active holder of one of ``roles`` (or admin).

        The caller checks that the domain exists (the authorizer sees grants only).
        """
        self.require_active(user, f"{action} in domain {domain}")
        if not self.has_domain_role(user, domain, roles):
            raise PermissionDeniedError(
                f"{user} may not {action} in domain {domain}: it needs the "
                f"{' or '.join(roles)} role on domain {domain}",
                hint=f"ask an admin: mlstudio user grant {user} {roles[0]} --domain {domain}",
            )

    def _require_known(self, user: str, action: str) -> None:
        # unregistered users keep the role message (it names what is needed); disabled ones
        # are told so, since no grant would help them
        record = self.user(user)
        if record is not None and record.disabled:
            self.require_active(user, action)


DOMAIN_RUN = ("runner",)
DOMAIN_VIEW = ("viewer", "runner")


__all__ = [
    "DOMAIN_ROLES",
    "DOMAIN_RUN",
    "DOMAIN_VIEW",
    "NAMESPACE_ROLES",
    "NAMESPACE_WRITE",
    "PLATFORM_ROLES",
    "Authorizer",
    "guarded",
    "record_denial",
    "validate_role",
]
