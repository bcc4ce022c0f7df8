"""``/api/v1/features``: feature views, point-in-time training sets, materialization, online
reads and the consistency check, each one call into the features area (checked there)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.features import CheckIn, MaterializeIn, OnlineGetIn, TrainingSetIn

router = APIRouter(tags=["features"])


@router.get("/features", response_model=Page[dict[str, Any]])
def list_views(
    studio: StudioDep,
    page: Paging,
    namespace: str | None = None,
    search: Annotated[str | None, Query(description="Name contains TEXT")] = None,
) -> dict[str, Any]:
    """The newest version of every feature view."""
    return page.page(studio.features.list(namespace, search, limit=page.limit, offset=page.offset))


@router.get("/features/{namespace}/{view}")
def show_view(namespace: str, view: str, studio: StudioDep) -> dict[str, Any]:
    """A view version (``VIEW@V``; the newest without ``@V``), its consumers and classification."""
    return studio.features.show(f"{namespace}/{view}")


@router.get("/features/{namespace}/{view}/diff")
def diff_views(
    namespace: str,
    view: str,
    studio: StudioDep,
    to: Annotated[str, Query(description="The other version: NS/VIEW@V")],
) -> dict[str, Any]:
    """What changed between two versions."""
    return studio.features.diff(f"{namespace}/{view}", to)


@router.post("/features/training-sets")
def training_set(body: TrainingSetIn, studio: StudioDep) -> dict[str, Any]:
    """Build a point-in-time training set (saved as a dataset with ``save``)."""
    return studio.features.training_set(
        body.entities,
        body.features,
        as_of=body.as_of,
        domain=body.domain,
        inclusive=body.inclusive,
        known_by=body.known_by,
        save=body.save,
    )


@router.post("/features/{namespace}/{view}/materialize")
def materialize(
    namespace: str, view: str, body: MaterializeIn, studio: StudioDep
) -> dict[str, Any]:
    """Write the newest value per key to the online store (incremental unless ``full``)."""
    return studio.features.materialize(
        f"{namespace}/{view}", store=body.store, domain=body.domain, full=body.full
    )


@router.post("/features/{namespace}/{view}/online")
def online_get(namespace: str, view: str, body: OnlineGetIn, studio: StudioDep) -> dict[str, Any]:
    """Online values per key: present, missing, or expired (older than max_age)."""
    return studio.features.get(
        f"{namespace}/{view}",
        body.keys,
        domain=body.domain,
        store=body.store,
        features=body.features,
    )


@router.post("/features/{namespace}/{view}/check")
def check(namespace: str, view: str, body: CheckIn, studio: StudioDep) -> dict[str, Any]:
    """Online vs offline point-in-time values for a sample of keys."""
    return studio.features.check(
        f"{namespace}/{view}", store=body.store, sample=body.sample, domain=body.domain
    )
