"""Role checks shared by every edge (CLI, API): default deny, allowed only by an explicit grant.

Roles: platform ``admin`` and ``steward``; per namespace ``owner | maintainer | reader``;
per domain ``runner | viewer``. Admins may do everything.
"""

from __future__ import annotations

from mlstudio.errors import InvalidInputError, PermissionDeniedError
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
    """Answers and enforces "may USER do ACTION on SCOPE" from the grants in one transaction."""

    def __init__(self, identity: IdentityRepository) -> None:
        self.identity = identity

    def is_admin(self, user: str) -> bool:
        return self.identity.has_grant(user, ("admin",), "platform", "")

    def is_steward(self, user: str) -> bool:
        return self.identity.has_grant(user, ("admin", "steward"), "platform", "")

    def has_namespace_role(self, user: str, namespace: str, roles: tuple[str, ...]) -> bool:
        return self.is_admin(user) or self.identity.has_grant(user, roles, "namespace", namespace)

    def require_admin(self, user: str, action: str) -> None:
        if not self.is_admin(user):
            raise PermissionDeniedError(
                f"{user} may not {action}: it needs the platform admin role",
                hint="ask an admin to run it, or to grant you admin",
            )

    def require_steward(self, user: str, action: str) -> None:
        if not self.is_steward(user):
            raise PermissionDeniedError(
                f"{user} may not {action}: it needs the steward role",
                hint=f"ask an admin: mlstudio user grant {user} steward",
            )

    def require_namespace(
        self, user: str, namespace: str, action: str, roles: tuple[str, ...] = NAMESPACE_WRITE
    ) -> None:
        if not self.has_namespace_role(user, namespace, roles):
            raise PermissionDeniedError(
                f"{user} may not {action} in namespace {namespace}: it needs {' or '.join(roles)}",
                hint=f"ask an owner: mlstudio namespace grant {namespace} {user} maintainer",
            )
