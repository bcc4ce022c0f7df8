"""Cron schedules and their fires."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstudio.api.schemas.common import In, Out


class ScheduleFireOut(Out):
    tick: str = Field(description="The cron tick that fired (UTC, ISO)")
    run_id: str | None = Field(description="The run it started; null when it could not start")
    run_state: str | None
    fired_at: str
    fired_by: str = Field(description="The scheduler (host:pid) that fired it")
    error: str | None = Field(description="Why no run started, in one line")


class ScheduleOut(Out):
    id: str
    workflow: str
    cron: str
    timezone: str
    catchup: str = Field(description="none | latest | all")
    params: dict[str, Any]
    domain: str
    state: str = Field(description="active | paused (| removed, in a removal's answer)")
    next_fire_at: str | None
    last_fire_at: str | None
    created_by: str = Field(description="Its runs start as this user")
    created_at: str


class ScheduleShowOut(ScheduleOut):
    fires: int = Field(description="Ticks fired so far")
    runs: int = Field(description="Runs those fires started")
    recent: list[ScheduleFireOut] = Field(description="The latest fires, newest first")


class ScheduleControlOut(ScheduleOut):
    changed: bool = Field(description="False when it already was paused, active or gone")


class ScheduleAddIn(In):
    """Start ``workflow`` (a pushed ``NS/MODULE/WORKFLOW[:TAG|@N]``) on every cron tick, as
    the token's user (who needs the runner role in ``domain``)."""

    workflow: str
    cron: str = Field(description='5 fields MINUTE HOUR DAY MONTH WEEKDAY, e.g. "0 6 * * 1-5"')
    tz: str = Field("UTC", description="IANA time zone the cron expression is read in")
    catchup: str = Field("none", description="Ticks missed while down: none | latest | all")
    params: dict[str, Any] = Field(default_factory=dict, description="Workflow parameters")
    domain: str = "experimentation"
