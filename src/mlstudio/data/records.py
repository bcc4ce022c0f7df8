"""Dataset and declassifier records as repositories return them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlstudio.modules.records import _jsonable


@dataclass(frozen=True)
class DatasetRecord:
    full_name: str
    namespace: str
    version: int
    digest: str
    domain: str
    num_rows: int
    size_bytes: int
    columns: list[dict[str, Any]]  # [{"name", "type", "classification", "provenance"}]
    source: dict[str, Any]
    created_by: str
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.full_name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class DeclassifierRecord:
    id: str
    module: str
    task: str
    code_digest: str
    columns: list[str]
    lower_to: str | None
    remove_labels: list[str]
    justification: str
    state: str
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class TokenRecord:
    id: str
    user: str
    description: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)
