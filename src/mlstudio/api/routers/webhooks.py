"""``/api/v1/webhooks``: signed outbound webhooks, their delivery log and replay."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
