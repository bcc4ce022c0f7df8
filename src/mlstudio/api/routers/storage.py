"""``/api/v1/storage``: garbage collection of the artifact store (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import StudioDep
from mlstudio.api.schemas.storage import GcIn, GcOut

router = APIRouter(prefix="/storage", tags=["storage"])


@router.post("/gc", response_model=GcOut)
def collect_garbage(studio: StudioDep, body: GcIn | None = None) -> Any:
    """Remove blobs nothing references (written more than ``grace_hours`` ago) and, with
    ``keep_runs_days``, the outputs of finished, unpinned runs older than that."""
    body = body or GcIn()
    return studio.storage.gc(
        dry_run=body.dry_run, keep_runs_days=body.keep_runs_days, grace_hours=body.grace_hours
    )
