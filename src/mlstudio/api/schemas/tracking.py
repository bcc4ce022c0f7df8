"""Experiment tracking: search and compare requests, tracked runs and experiments."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstudio.api.schemas.common import In, Out


class SearchIn(In):
    filter: str | None = Field(
        None,
        max_length=4000,
        description="MLflow filter: metrics.auc > 0.8 and params.kind = 'gbm'",
    )
    order_by: list[str] = Field(
        default_factory=list, max_length=10, description="e.g. ['metrics.auc DESC']"
    )
    experiment: str | None = Field(None, max_length=256, description="Experiment id or name")
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=2**31 - 1)


class CompareIn(In):
    runs: list[str] = Field(
        min_length=1,
        max_length=100,
        description="Tracked-run ids or workflow run ids (a workflow run: its task runs)",
    )
    only_differences: bool = Field(False, description="Only params and metrics that differ")


class TrackedRunOut(Out):
    id: str
    experiment: str
    status: str
    params: dict[str, Any]
    metrics: dict[str, Any] = Field(description="Latest value per key; NaN/Infinity as strings")
    tags: dict[str, Any]


class TrackedRunsOut(Out):
    items: list[TrackedRunOut]


class ExperimentOut(Out):
    id: str
    name: str
    runs: int


class ExperimentsOut(Out):
    items: list[ExperimentOut]


class CompareOut(Out):
    runs: list[dict[str, Any]]
    params: list[dict[str, Any]]
    metrics: list[dict[str, Any]] = Field(description="Values per run; 'best' is its index")


class PointsOut(Out):
    items: list[dict[str, Any]]


class SearchOut(Out):
    runs: list[TrackedRunOut]
    next_offset: int | None = Field(description="Offset of the next page (None at the end)")
