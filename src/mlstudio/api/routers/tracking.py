"""``/api/v1/tracking``: experiments, tracked runs, search, compare, metric history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from mlstudio.api.deps import StudioDep
from mlstudio.api.schemas.tracking import (
    CompareIn,
    CompareOut,
    ExperimentOut,
    ExperimentsOut,
    PointsOut,
    SearchIn,
    SearchOut,
    TrackedRunOut,
    TrackedRunsOut,
)

router = APIRouter(prefix="/tracking", tags=["tracking"])


@router.get("/experiments", response_model=ExperimentsOut)
def list_experiments(studio: StudioDep, include_deleted: bool = False) -> Any:
    """Every active experiment (with ``include_deleted``, every one) and its number of runs."""
    return {"items": studio.tracking.experiments(include_deleted=include_deleted)}


@router.get("/experiments/{ref}", response_model=ExperimentOut)
def show_experiment(ref: str, studio: StudioDep, limit: int = Query(20, ge=1, le=1000)) -> Any:
    """One experiment (by id or name) and its newest runs."""
    return studio.tracking.experiment(ref, limit=limit)


@router.post("/search", response_model=SearchOut)
def search_runs(body: SearchIn, studio: StudioDep) -> Any:
    """Tracked runs matching an MLflow filter, ordered."""
    return studio.tracking.search(
        body.filter,
        order_by=body.order_by,
        experiment=body.experiment,
        limit=body.limit,
        offset=body.offset,
    )


@router.post("/compare", response_model=CompareOut)
def compare_runs(body: CompareIn, studio: StudioDep) -> Any:
    """Params and metrics of the runs side by side, the best value per metric marked."""
    return studio.tracking.compare(body.runs, only_differences=body.only_differences)


@router.get("/runs/{run_id}", response_model=TrackedRunOut)
def show_tracked_run(run_id: str, studio: StudioDep) -> Any:
    """One tracked run: params, latest metrics, tags."""
    return studio.tracking.get(run_id)


@router.get("/runs/{ref}/all", response_model=TrackedRunsOut)
def tracked_runs_of(ref: str, studio: StudioDep) -> Any:
    """The tracked runs a ref names: itself, or a workflow run's task runs."""
    return {"items": studio.tracking.runs_of(ref)}


@router.get("/runs/{ref}/history", response_model=PointsOut)
def metric_history(
    ref: str,
    studio: StudioDep,
    metric: str = Query(..., min_length=1, max_length=250, description="Metric key"),
) -> Any:
    """Every point of ``metric`` of the tracked runs ``ref`` names."""
    return {"items": studio.tracking.history(ref, metric)}
