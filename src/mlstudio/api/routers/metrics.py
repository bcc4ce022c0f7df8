"""``GET /metrics``: the orchestrator's state for Prometheus (needs a token like every route but
``/health``: Prometheus sends it with ``authorization: {type: Bearer, credentials: …}``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from mlstudio.api.deps import PlatformDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request, platform: PlatformDep) -> Response:
    """Queue depth, runs and tasks by state, task durations, cache hit ratio, lease expiries,
    webhook failures, schedules (Prometheus text format 0.0.4)."""
    from mlstudio.scheduling.metrics import CONTENT_TYPE, render_metrics

    gate = request.app.state.gate
    server = (
        "# HELP mlstudio_http_requests_in_flight Requests this server works on now.\n"
        "# TYPE mlstudio_http_requests_in_flight gauge\n"
        f"mlstudio_http_requests_in_flight {gate.in_flight}\n"
        "# HELP mlstudio_http_requests_refused_total Requests answered 503 (busy) since start.\n"
        "# TYPE mlstudio_http_requests_refused_total counter\n"
        f"mlstudio_http_requests_refused_total {gate.refused}\n"
    )
    return Response(render_metrics(platform) + server, media_type=CONTENT_TYPE)
