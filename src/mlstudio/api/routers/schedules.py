"""``/api/v1/schedules``: cron schedules that start runs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/schedules", tags=["schedules"])
