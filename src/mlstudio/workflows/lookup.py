"""Finding a run by its id or a unique prefix of it (6+ characters), inside a unit of work."""

from __future__ import annotations

from typing import Any

from mlstudio.errors import InvalidInputError, NotFoundError


def find_run(uow: Any, run_id: str) -> Any:
    """The run ``run_id`` names; NotFoundError, or InvalidInputError for an ambiguous prefix."""
    run = uow.runs.get_run(run_id)
    if run is None and isinstance(run_id, str) and len(run_id) >= 6:
        matches = uow.runs.find_runs(run_id)
        if len(matches) == 1:
            run = uow.runs.get_run(matches[0])
        elif len(matches) > 1:
            raise InvalidInputError(
                f"{run_id!r} matches {len(matches)} runs", hint="give more of the id"
            )
    if run is None:
        raise NotFoundError(f"run {run_id} does not exist", hint="see: mlstudio runs list")
    return run
