"""``/api/v1/monitors``: monitors, their alerts and feedback (one call per route)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import StudioDep
from mlstudio.api.schemas.monitoring import FeedbackIn, MonitorIn, RunIn, TuneIn

router = APIRouter(tags=["monitoring"])


@router.post("/monitors")
def add_monitor(body: MonitorIn, studio: StudioDep) -> dict[str, Any]:
    """Declare a monitor; its source must be readable in its domain (refusals audited)."""
    return studio.monitoring.add(
        body.name,
        source=body.source,
        time_column=body.time_column,
        period=body.period,
        domain=body.domain,
        dimensions=body.dimensions,
        features=body.features,
        reference=body.reference,
        metrics=body.metrics,
        alpha=body.alpha,
        persistence=body.persistence,
        max_slices=body.max_slices,
        freshness=body.freshness,
        schedule=body.schedule,
        flag=body.flag,
        retrain=body.retrain.model_dump() if body.retrain is not None else None,
        ground_truth=body.ground_truth.model_dump() if body.ground_truth is not None else None,
        after=body.after,
    )


@router.get("/monitors")
def list_monitors(studio: StudioDep, namespace: str | None = None) -> dict[str, Any]:
    return {"items": studio.monitoring.list(namespace)}


@router.get("/monitors/{namespace}/{name}")
def show_monitor(namespace: str, name: str, studio: StudioDep) -> dict[str, Any]:
    """The monitor, its recent windows, alerts, feedback and each check's precision/recall."""
    return studio.monitoring.show(f"{namespace}/{name}")


@router.post("/monitors/{namespace}/{name}/run")
def run_monitor(namespace: str, name: str, body: RunIn, studio: StudioDep) -> dict[str, Any]:
    """Compute the complete windows not computed yet (idempotent); open/resolve alerts."""
    return studio.monitoring.run(f"{namespace}/{name}", now=body.now)


@router.post("/monitors/{namespace}/{name}/backfill")
def backfill_monitor(namespace: str, name: str, body: RunIn, studio: StudioDep) -> dict[str, Any]:
    """Recompute the monitor's history (no webhook events for it)."""
    return studio.monitoring.backfill(f"{namespace}/{name}", now=body.now)


@router.post("/monitors/{namespace}/{name}/tune")
def tune_monitor(namespace: str, name: str, body: TuneIn, studio: StudioDep) -> dict[str, Any]:
    """Alert counts and precision/recall on history per threshold; ``apply`` sets one."""
    return studio.monitoring.tune(f"{namespace}/{name}", threshold=body.threshold, apply=body.apply)


@router.delete("/monitors/{namespace}/{name}")
def remove_monitor(namespace: str, name: str, studio: StudioDep) -> dict[str, Any]:
    return studio.monitoring.remove(f"{namespace}/{name}")


@router.get("/monitor-alerts")
def list_alerts(
    studio: StudioDep, monitor: str | None = None, state: str | None = None
) -> dict[str, Any]:
    return {"items": studio.monitoring.alerts(monitor, state=state)}


@router.post("/monitor-feedback")
def give_feedback(body: FeedbackIn, studio: StudioDep) -> dict[str, Any]:
    """Feedback on an alert or a range; it applies to windows computed after it (audited)."""
    return studio.monitoring.feedback(
        body.target,
        body.kind,
        start=body.start,
        end=body.end,
        metric=body.metric,
        dims=body.dims,
        comment=body.comment,
    )
