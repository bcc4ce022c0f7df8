"""``/api/v1/schedules``: cron schedules that start runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.schedules import ScheduleAddIn, ScheduleControlOut, ScheduleShowOut

router = APIRouter(prefix="/schedules", tags=["schedules"])


@router.get("", response_model=Page[ScheduleShowOut])
def list_schedules(
    studio: StudioDep,
    page: Paging,
    workflow: Annotated[str | None, Query(description="Workflow prefix")] = None,
) -> dict[str, Any]:
    """Schedules in domains the token's user may view, with their recent fires and runs."""
    rows = studio.schedules.list(workflow=workflow, limit=page.limit, offset=page.offset)
    return page.page(rows)


@router.post("", status_code=201, response_model=ScheduleShowOut)
def add_schedule(body: ScheduleAddIn, studio: StudioDep) -> Any:
    """Schedule a pushed workflow; its runs start as the token's user on the server's workers."""
    return studio.schedules.add(
        body.workflow,
        body.cron,
        tz=body.tz,
        catchup=body.catchup,
        params=body.params,
        domain=body.domain,
    )


@router.get("/{schedule_id}", response_model=ScheduleShowOut)
def show_schedule(schedule_id: str, studio: StudioDep) -> dict[str, Any]:
    """One schedule with its recent fires (a unique id prefix of 6+ characters works)."""
    return studio.schedules.show(schedule_id)


@router.post("/{schedule_id}/pause", response_model=ScheduleControlOut)
def pause_schedule(schedule_id: str, studio: StudioDep) -> dict[str, Any]:
    """Stop firing until resumed (runners of its domain); ``changed`` is false if it was."""
    return studio.schedules.pause(schedule_id)


@router.post("/{schedule_id}/resume", response_model=ScheduleControlOut)
def resume_schedule(schedule_id: str, studio: StudioDep) -> dict[str, Any]:
    """Fire again; ticks missed while paused follow the catch-up policy."""
    return studio.schedules.resume(schedule_id)


@router.delete("/{schedule_id}", response_model=ScheduleControlOut)
def remove_schedule(schedule_id: str, studio: StudioDep) -> dict[str, Any]:
    """Delete the schedule; the runs it started stay."""
    return studio.schedules.remove(schedule_id)
