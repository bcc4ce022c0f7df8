"""Datasets, classification, lineage, and declassifiers."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstudio.api.schemas.common import In, Out


class DatasetListItem(Out):
    name: str
    version: int
    ref: str
    domain: str
    rows: int
    columns: int
    unclassified: int
    max_level: str
    labels: list[str]


class DatasetOut(Out):
    name: str
    version: int
    ref: str
    namespace: str
    domain: str
    digest: str
    rows: int
    columns: list[dict[str, Any]]
    unclassified: list[str]


class ImportOut(DatasetOut):
    schema_changes: dict[str, Any] | None = Field(
        description="Columns added, removed and retyped since the previous version (null for "
        "a first version)"
    )


class ClassifyIn(In):
    specs: list[str] = Field(min_length=1, description="COL=LEVEL[+LABEL...] each")


class ClassifyOut(DatasetOut):
    changes: list[dict[str, Any]]


class LineageOut(Out):
    dataset: str
    columns: list[dict[str, Any]]


class HeadOut(Out):
    dataset: str
    domain: str
    columns: list[str] = Field(description="The columns shown")
    rows: list[dict[str, Any]]
    total_rows: int
    withheld: list[dict[str, Any]] = Field(
        description="Columns the domain may not read, each with the reason"
    )


class DeletionOut(Out):
    kind: str = Field(description="dataset | module")
    name: str
    versions: list[int] = Field(description="The versions deleted")
    remaining: list[int]
    deleted: list[dict[str, Any]]


class DeclassifierOut(Out):
    id: str
    module: str
    task: str
    columns: list[str]
    lower_to: str | None
    remove_labels: list[str]
    state: str


class DeclassifierIn(In):
    module: str = Field(description="NS/MODULE[@N|:TAG] (default tag latest)")
    task: str
    columns: list[str] = Field(default_factory=list)
    lower_to: str | None = None
    remove_labels: list[str] = Field(default_factory=list)
    justification: str = ""
