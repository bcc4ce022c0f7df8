"""``POST /api/v1/workflows/{ref}/runs``: the API trigger other services start runs with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import Actor, PlatformDep
from mlstudio.api.schemas.runs import RunOut, RunRequest
from mlstudio.errors import InvalidInputError

router = APIRouter(prefix="/workflows", tags=["workflows"])

# Runs started through the API are driven by the server's run driver on its worker pools.
SERVER_EXECUTOR = "queue"


def refuse_working_copy(ref: str, verb: str) -> None:
    """A server runs pushed workflows only: ``PATH.py:FUNCTION`` names a file on the caller's
    machine, not the server's."""
    text = ref.strip()
    if ".py:" in text or text.endswith(".py"):
        raise InvalidInputError(
            f"{ref!r} is a working copy: a server runs pushed workflows only",
            hint=f"push the module, then {verb} NS/MODULE/WORKFLOW[:TAG|@N]",
        )


@router.post("/{ref:path}/runs", status_code=202, response_model=RunOut)
def start_run(ref: str, body: RunRequest, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Plan and queue a run of ``NS/MODULE/WORKFLOW[:TAG|@N]`` as the token's user.

    202 with the queued run: the server's run driver executes it on its workers; follow it
    with ``GET /api/v1/runs/{id}``. Nothing runs inside this request.
    """
    refuse_working_copy(ref, "start")
    record = platform.runs.submit(
        actor,
        ref,
        body.params,
        domain=body.domain,
        executor=SERVER_EXECUTOR,
        no_cache=body.no_cache,
        fail_fast=body.fail_fast,
        trigger="api",
        pool=body.pool,
        priority=body.priority,
        preemptible=body.preemptible,
    )
    return record.summary()
