"""Modules, namespaces and their tags."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstudio.api.schemas.common import MAX_INT, In, Out


class ModuleOut(Out):
    full_name: str
    namespace: str
    name: str
    description: str
    latest_version: int
    created_at: str
    updated_at: str
    tags: dict[str, int] = Field(description="tag name -> version")


class ModuleShowOut(Out):
    module: dict[str, Any]
    selected: dict[str, Any] = Field(description="The selected version with its tasks")
    versions: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    tag_history: list[dict[str, Any]]


class PushOut(Out):
    module: str
    version: int
    ref: str
    digest: str
    unchanged: bool = Field(description="Same content as an existing version: nothing new")
    tests: dict[str, Any]
    tests_passed: bool
    changes: dict[str, Any] | None = Field(
        default=None,
        description="Against the previous version: description, requirements, tasks and files "
        "added or removed (null for a first or unchanged push)",
    )


class TagMoveOut(Out):
    module: str
    tag: str
    moved: bool
    to: int


class PromoteIn(In):
    version: int = Field(ge=1, le=MAX_INT, description="Version to point `latest` at")
    override_reason: str | None = Field(
        None, description="Move past a failed evaluation gate (approvers; audited)"
    )


class TagIn(In):
    version: int = Field(ge=1, le=MAX_INT, description="Version to point the tag at")
    override_reason: str | None = Field(
        None, description="Move past a failed evaluation gate (approvers; audited)"
    )


class RollbackIn(In):
    tag: str = Field("latest", description="Tag to move back to its previous version")


class NamespaceOut(Out):
    name: str
    description: str
    created_by: str
    created_at: str
    max_running_runs: int | None = Field(None, description="Run quota; null: unlimited")
    max_running_tasks: int | None = Field(None, description="Task quota; null: unlimited")


class NamespaceCreateIn(In):
    name: str
    owner: str | None = Field(None, description="Owning user (default: you)")
    description: str = ""


class NamespaceGrantIn(In):
    user: str
    role: str = Field(description="owner | maintainer | reader")


class NamespaceGrantOut(Out):
    namespace: str
    user: str
    role: str
    added: bool


class NamespaceQuotaIn(In):
    """Fields left out stay unchanged; ``null`` clears a quota (unlimited)."""

    max_running_runs: int | None = Field(
        None,
        strict=True,
        json_schema_extra={"minimum": 0, "maximum": MAX_INT},  # checked by the service
        description="Runs of the namespace driven at once",
    )
    max_running_tasks: int | None = Field(
        None,
        strict=True,
        json_schema_extra={"minimum": 0, "maximum": MAX_INT},  # checked by the service
        description="Tasks of the namespace claimed by workers at once",
    )


class NamespaceQuotaOut(Out):
    namespace: str
    max_running_runs: int | None = Field(description="null: unlimited")
    max_running_tasks: int | None = Field(description="null: unlimited")
    running_runs: int = Field(description="Runs driven now (or taken by a driver)")
    running_tasks: int = Field(description="Tasks claimed by workers now")
