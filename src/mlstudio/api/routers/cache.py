"""``/api/v1/cache``: what the task cache saved, and clearing it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import StudioDep
from mlstudio.api.schemas.runs import CacheClearIn, CacheClearOut, CacheStatsOut

router = APIRouter(prefix="/cache", tags=["cache"])


@router.get("/stats", response_model=CacheStatsOut)
def cache_stats(studio: StudioDep) -> Any:
    """Hits, misses and compute time saved, overall and per workflow."""
    return studio.cache.stats()


@router.post("/clear", response_model=CacheClearOut)
def cache_clear(body: CacheClearIn, studio: StudioDep) -> Any:
    """Forget cache entries (the next runs recompute them)."""
    return studio.cache.clear(body.workflow, body.task, body.older_than_days)
