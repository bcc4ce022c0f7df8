"""Identity and audit records as repositories return them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlstudio.modules.records import _jsonable


@dataclass(frozen=True)
class UserRecord:
    name: str
    created_at: datetime
    created_by: str | None
    disabled: bool

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class GrantRecord:
    user: str
    role: str
    scope_kind: str
    scope: str
    granted_by: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    action: str
    resource: str
    decision: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)
