"""The artifact store's garbage collection."""

from __future__ import annotations

from pydantic import Field

from mlstudio.api.schemas.common import In, Out


class GcIn(In):
    dry_run: bool = Field(False, description="Say what would be removed; remove nothing")
    keep_runs_days: float | None = Field(
        None, ge=0, description="Release outputs of finished, unpinned runs older than this"
    )
    grace_hours: float = Field(
        1.0, ge=0, description="Keep unreferenced blobs written within this many hours"
    )


class Tally(Out):
    blobs: int
    bytes: int


class GcOut(Out):
    dry_run: bool
    grace_hours: float | int
    keep_runs_days: float | int | None
    started_at: str
    scanned: Tally
    referenced: Tally
    recent: Tally
    removed: Tally = Field(description="Also: unreferenced, expired_run_outputs (counts)")
    expired_runs: int
