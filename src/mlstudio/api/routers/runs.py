"""``/api/v1/runs``: list, inspect, logs, cancel, clone and resume runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.runs import CloneRequest, LogEntry, RunListItem, RunOut, RunShowOut

router = APIRouter(prefix="/runs", tags=["runs"])


@router.get("", response_model=Page[RunListItem])
def list_runs(
    studio: StudioDep,
    page: Paging,
    state: str | None = None,
    workflow: Annotated[str | None, Query(description="Workflow name prefix")] = None,
    user: Annotated[str | None, Query(description="Runs created by this user")] = None,
    domain: str | None = None,
    namespace: str | None = None,
    since: Annotated[datetime | None, Query(description="Created at or after (ISO)")] = None,
) -> dict[str, Any]:
    """Runs the token's user may view, newest first, with task counts by state."""
    rows = studio.runs.list(
        state=state,
        workflow=workflow,
        user=user,
        domain=domain,
        namespace=namespace,
        since=since,
        limit=page.limit,
        offset=page.offset,
    )
    return page.page(rows)


@router.get("/{run_id}", response_model=RunShowOut)
def show_run(
    run_id: str,
    studio: StudioDep,
    explain: Annotated[bool, Query(description="Say why cache keys changed")] = False,
) -> Any:
    """A run's state, lock, tasks and output (a unique id prefix of 6+ characters works)."""
    return studio.runs.show(run_id, explain=explain)


@router.get("/{run_id}/logs", response_model=Page[LogEntry])
def run_logs(
    run_id: str,
    studio: StudioDep,
    page: Paging,
    task: Annotated[str | None, Query(description="Only this node id or task name")] = None,
) -> dict[str, Any]:
    """Captured output of every task attempt."""
    return page.page(page.slice(studio.runs.logs(run_id, task=task)))


@router.post("/{run_id}/cancel", response_model=RunOut)
def cancel_run(run_id: str, studio: StudioDep) -> Any:
    """Cancel a queued or running run."""
    return studio.runs.cancel(run_id)


@router.post("/{run_id}/clone", status_code=202, response_model=RunOut)
def clone_run(run_id: str, studio: StudioDep, body: CloneRequest | None = None) -> Any:
    """Queue a new run with this run's resolved module versions, options and changed
    parameters, on the server's workers."""
    body = body or CloneRequest()
    return studio.runs.clone(run_id, body.params, no_cache=body.no_cache)


@router.post("/{run_id}/resume", status_code=202, response_model=RunOut)
def resume_run(run_id: str, studio: StudioDep) -> Any:
    """Ask for a run whose engine died to be finished, without redoing completed tasks."""
    return studio.runs.resume(run_id)
