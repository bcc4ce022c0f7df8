"""Read-only records of the module registry, as repositories return them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from mlstudio.core.clock import iso


def _jsonable(obj: Any) -> dict[str, Any]:
    out = asdict(obj)
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = iso(value)
    return out


@dataclass(frozen=True)
class NamespaceRecord:
    name: str
    description: str
    created_by: str
    created_at: datetime
    max_running_runs: int | None = None  # quotas; None: unlimited
    max_running_tasks: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class ModuleRecord:
    id: int
    full_name: str
    namespace: str
    name: str
    description: str
    latest_version: int
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        out = _jsonable(self)
        out.pop("id")
        return out


@dataclass(frozen=True)
class ModuleVersionRecord:
    module: str
    version: int
    digest: str
    archive_digest: str
    size_bytes: int
    file_count: int
    manifest: dict[str, Any]
    tasks: list[dict[str, Any]]
    requirements: list[str]
    env_digest: str | None
    pushed_by: str
    pushed_at: datetime
    message: str
    git_commit: str | None
    git_dirty: bool | None
    tests_passed: bool
    test_summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.module}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class TagRecord:
    module: str
    name: str
    version: int
    updated_by: str
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class TagEventRecord:
    module: str
    tag: str
    from_version: int | None
    to_version: int
    action: str
    actor: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)
