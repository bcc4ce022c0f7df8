"""Domains, users and grants, tokens, and the audit log."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstudio.api.schemas.common import In, Out
from mlstudio.governance.tokens import MAX_TTL_DAYS


class DomainOut(Out):
    name: str
    clearance: str
    readable_labels: list[str] | None = Field(description="null means all")
    denied_labels: list[str]
    pseudonymous_readable: bool
    readable_domains: list[str] | None = Field(description="null means all")
    may_persist: bool
    promoted_only: bool
    description: str


class DomainShowOut(DomainOut):
    members: list[dict[str, Any]]


class DomainRemovalOut(Out):
    name: str
    removed: bool
    revoked: list[dict[str, Any]] = Field(description="Grants on the domain that went with it")


class DomainSetIn(In):
    """Fields left out stay unchanged. For the lists, ``null`` means all and ``[]`` none."""

    clearance: str | None = None
    readable_labels: list[str] | None = None
    denied_labels: list[str] | None = None
    readable_domains: list[str] | None = None
    may_persist: bool | None = None
    promoted_only: bool | None = None
    pseudonymous_readable: bool | None = None
    description: str | None = None


class DomainCreateIn(DomainSetIn):
    """A new domain: ``name`` and the fields to open (the others start closed)."""

    name: str = Field(description="the new domain's name, e.g. staging")


class WhoamiOut(Out):
    user: str
    registered: bool
    disabled: bool
    grants: list[dict[str, Any]]


class UserOut(Out):
    name: str
    created_at: str
    created_by: str | None
    disabled: bool


class UserListItem(UserOut):
    grants: list[dict[str, Any]]


class UserAddIn(In):
    name: str
    role: str | None = Field(None, description="Platform role: admin | steward")


class GrantIn(In):
    role: str = Field(description="admin | steward | owner | maintainer | reader | runner | viewer")
    namespace: str | None = None
    domain: str | None = None


class GrantOut(Out):
    user: str
    role: str
    scope_kind: str
    scope: str


class TokenOut(Out):
    id: str
    user: str
    description: str
    created_by: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None


class TokenCreateIn(In):
    user: str | None = Field(None, description="Token owner (default: you; others: admins)")
    ttl_days: float = Field(90.0, gt=0, le=MAX_TTL_DAYS, description="Days until the token expires")
    description: str = ""


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret: shown once, never again")
    warning: str


class AuditEventOut(Out):
    id: int
    at: str
    actor: str
    action: str
    resource: str
    decision: str
    details: dict[str, Any]
