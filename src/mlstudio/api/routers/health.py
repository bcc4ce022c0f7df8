"""``GET /health``: the only route that answers without a token."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from mlstudio.api.deps import PlatformDep
from mlstudio.api.schemas.common import ErrorOut, Health
from mlstudio.errors import StoreUnavailableError

router = APIRouter(tags=["health"])
log = logging.getLogger("mlstudio.api")


@router.get("/health", response_model=Health, responses={503: {"model": ErrorOut}})
def health(platform: PlatformDep) -> dict[str, str]:
    """The server is up and its metadata database answers a trivial query."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with platform.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        # open route: the reason goes to the server log, not to whoever asks
        log.error("health check failed: %s", str(exc).splitlines()[0])
        raise StoreUnavailableError(
            "the metadata database does not answer",
            hint="check that the database is running and reachable from the server",
        ) from exc
    return {"status": "ok"}
