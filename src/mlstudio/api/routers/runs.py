"""``/api/v1/runs``: list, inspect, logs, cancel, clone, resume, pin and download outputs."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.common import IsoTime, Page
from mlstudio.api.schemas.runs import (
    CloneRequest,
    LogEntry,
    LogTailOut,
    PinIn,
    PinOut,
    RunListItem,
    RunOut,
    RunShowOut,
    RunStatesOut,
)
from mlstudio.api.uploads import safe_filename

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
    since: Annotated[IsoTime | None, Query(description="Created at or after (ISO)")] = None,
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


@router.get("/{run_id}/states", response_model=RunStatesOut)
def run_states(run_id: str, studio: StudioDep) -> Any:
    """The run's state and each task's (node, state, cache hit): what a live view polls, without
    the outputs and logs of ``GET /runs/{id}``."""
    return studio.runs.states(run_id)


@router.get("/{run_id}/logs", response_model=Page[LogEntry])
def run_logs(
    run_id: str,
    studio: StudioDep,
    page: Paging,
    task: Annotated[str | None, Query(description="Only this node id or task name")] = None,
) -> dict[str, Any]:
    """Captured output of every task attempt so far (also while it runs)."""
    return page.page(page.slice(studio.runs.logs(run_id, task=task)))


@router.get("/{run_id}/logs/tail", response_model=LogTailOut)
def run_log_tail(
    run_id: str,
    studio: StudioDep,
    task: Annotated[str | None, Query(description="Only this node id or task name")] = None,
    cursor: Annotated[
        str | None, Query(max_length=100_000, description="From the previous answer")
    ] = None,
) -> Any:
    """What the task attempts printed since ``cursor`` (``runs logs --follow``): poll with
    each answer's cursor until ``done``."""
    return studio.runs.log_tail(run_id, task=task, cursor=cursor)


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


_MEDIA = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
    "pickle": "application/octet-stream",
}


@router.get(
    "/{run_id}/output",
    response_class=FileResponse,
    responses={200: {"content": {m: {} for m in sorted(set(_MEDIA.values()))}}},
)
def run_output(
    run_id: str,
    studio: StudioDep,
    task: Annotated[str | None, Query(description="A task's output (node id or task name)")] = None,
    domain: Annotated[
        str | None, Query(description="Domain it is read under (default: the run's)")
    ] = None,
    fmt: Annotated[
        Literal["csv", "parquet", "json", "pickle", "text"] | None, Query(alias="format")
    ] = None,
    filename: Annotated[
        str | None, Query(description="Target file name: its suffix picks the format")
    ] = None,
) -> FileResponse:
    """The output as a file (the summary is in the ``X-Mlstudio-Output`` header), streamed."""
    folder = tempfile.mkdtemp(prefix="mlstudio-output-")
    try:
        target = Path(folder) / safe_filename(filename, "output")
        summary = studio.runs.output(run_id, target, task=task, domain=domain, fmt=fmt)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    summary = {**summary, "file": target.name}
    return FileResponse(
        target,
        media_type=_MEDIA.get(summary["format"], "application/octet-stream"),
        filename=target.name,
        headers={"X-Mlstudio-Output": json.dumps(summary, separators=(",", ":"))},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.post("/{run_id}/pin", response_model=PinOut)
def pin_run(run_id: str, studio: StudioDep, body: PinIn | None = None) -> Any:
    """Keep the run and what it needs whatever its age (runners of its domain)."""
    return studio.runs.pin(run_id, (body or PinIn()).reason)


@router.delete("/{run_id}/pin", response_model=PinOut)
def unpin_run(run_id: str, studio: StudioDep) -> Any:
    """Let clean-up and retention treat the run like any other again."""
    return studio.runs.unpin(run_id)
