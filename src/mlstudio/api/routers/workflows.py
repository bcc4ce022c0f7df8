"""``POST /api/v1/workflows/{ref}/runs``: the API trigger other services start runs with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import StudioDep
from mlstudio.api.schemas.runs import RunOut, RunRequest

router = APIRouter(prefix="/workflows", tags=["workflows"])


@router.post("/{ref:path}/runs", status_code=202, response_model=RunOut)
def start_run(ref: str, body: RunRequest, studio: StudioDep) -> Any:
    """Plan and queue a run of ``NS/MODULE/WORKFLOW[:TAG|@N]`` as the token's user.

    202 with the queued run: the server's run driver executes it on its workers; follow it
    with ``GET /api/v1/runs/{id}``. Nothing runs inside this request.
    """
    return studio.runs.start(ref, body.params, body.options())
