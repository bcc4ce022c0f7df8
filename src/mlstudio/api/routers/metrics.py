"""``GET /metrics``: the orchestrator's state for Prometheus (needs a token like every route but
``/health``: Prometheus sends it with ``authorization: {type: Bearer, credentials: …}``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from mlstudio.api.deps import PlatformDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(platform: PlatformDep) -> Response:
    """Queue depth, runs and tasks by state, task durations, cache hit ratio, lease expiries,
    webhook failures, schedules (Prometheus text format 0.0.4)."""
    from mlstudio.scheduling.metrics import CONTENT_TYPE, render_metrics

    return Response(render_metrics(platform), media_type=CONTENT_TYPE)
