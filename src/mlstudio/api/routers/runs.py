"""``/api/v1/runs``: list, inspect, logs, cancel, clone and resume runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlstudio.api.deps import Actor, Paging, PlatformDep
from mlstudio.api.schemas.common import IsoTime, Page
from mlstudio.api.schemas.runs import CloneRequest, LogEntry, RunListItem, RunOut, RunShowOut

router = APIRouter(prefix="/runs", tags=["runs"])


@router.get("", response_model=Page[RunListItem])
def list_runs(
    platform: PlatformDep,
    actor: Actor,
    page: Paging,
    state: str | None = None,
    workflow: Annotated[str | None, Query(description="Workflow name prefix")] = None,
    user: Annotated[str | None, Query(description="Runs created by this user")] = None,
    domain: str | None = None,
    namespace: str | None = None,
    since: Annotated[IsoTime | None, Query(description="Created at or after (ISO)")] = None,
) -> dict[str, Any]:
    """Runs the token's user may view, newest first, with task counts by state."""
    rows = platform.runs.list(
        actor,
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
    platform: PlatformDep,
    actor: Actor,
    explain: Annotated[bool, Query(description="Say why cache keys changed")] = False,
) -> dict[str, Any]:
    """A run's state, lock, tasks and output (a unique id prefix of 6+ characters works)."""
    return platform.runs.show(run_id, actor=actor, explain=explain)


@router.get("/{run_id}/logs", response_model=Page[LogEntry])
def run_logs(
    run_id: str,
    platform: PlatformDep,
    actor: Actor,
    page: Paging,
    task: Annotated[str | None, Query(description="Only this node id or task name")] = None,
) -> dict[str, Any]:
    """Captured output of every task attempt."""
    return page.page(page.slice(platform.runs.logs(run_id, actor=actor, task=task)))


@router.post("/{run_id}/cancel", response_model=RunOut)
def cancel_run(run_id: str, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Cancel a queued or running run."""
    return platform.runs.cancel(actor, run_id).summary()


@router.post("/{run_id}/clone", status_code=202, response_model=RunOut)
def clone_run(
    run_id: str, platform: PlatformDep, actor: Actor, body: CloneRequest | None = None
) -> dict[str, Any]:
    """Queue a new run with this run's resolved module versions and changed parameters."""
    from mlstudio.api.routers.workflows import SERVER_EXECUTOR

    body = body or CloneRequest()
    run = platform.runs.clone(
        actor, run_id, body.params, no_cache=body.no_cache, executor=SERVER_EXECUTOR
    )
    return run.summary()


@router.post("/{run_id}/resume", status_code=202, response_model=RunOut)
def resume_run(run_id: str, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Ask for a run whose engine died to be finished, without redoing completed tasks."""
    return platform.runs.prepare_resume(actor, run_id).summary()
