"""The metadata store a worker process's tasks belong to (for in-task ``load_model``).

A process that runs tasks takes its credentials out of its environment before the first task
(:func:`mlstudio.workflows.sandbox.drop_credentials`), so a task's ``load_model`` cannot find
the run's database there (it used to fall back to the home's SQLite file: the wrong store on
Postgres). Instead the worker is handed the store, as plain data kept in this process only:

- **local executor**: the engine's own settings (home, database URL, artifact URL) go to every
  worker process it starts, through the process's start arguments, never the environment;
- **queue workers**: their local executor is given the ``mlstudio worker``'s settings (the
  store it claims the run's tasks from);
- **Ray workers**, inline tasks (and any process not handed one): what the process's
  environment named when it dropped its credentials (:func:`remember_environment`, called
  first).

The address stays in the worker's memory, where a task's own Python could find it (under
``run_as`` too: the task's process is a fork of the worker): the task sandbox is an audit hook,
not a boundary against code that inspects its own process (docs/governance.md, "The task
sandbox"). A credential scoped to one run's registry reads would close that; not built yet.
"""

from __future__ import annotations

import os
from typing import Any

_FIELDS = ("home", "database_url", "artifact_url")
_HANDED: list[dict[str, str | None] | None] = [None]  # by the executor that started us
_REMEMBERED: list[dict[str, str | None] | None] = [None]  # the environment, before the drop


def address_of(settings: Any) -> dict[str, str | None]:
    """What a worker needs to open the store of ``settings`` (a ``Settings``)."""
    return {
        "home": str(settings.home),
        "database_url": settings.resolved_database_url,
        "artifact_url": settings.resolved_artifact_url,
    }


def hand(address: dict[str, str | None] | None) -> None:
    """Make ``address`` (from :func:`address_of`) the store of this process's tasks."""
    if address:
        _HANDED[0] = {k: address.get(k) for k in _FIELDS}


def remember_environment() -> None:
    """Keep the store this process's environment names (called before it drops them)."""
    found = {k: os.environ.get(f"MLSTUDIO_{k.upper()}") or None for k in _FIELDS}
    if any(found.values()):
        _REMEMBERED[0] = found


def address() -> dict[str, str | None] | None:
    """The store of this process's tasks: the one it was handed; else the environment's while
    it still names a database (a process that ran no task, or a test that set it again); else
    the one the environment named before the credentials were dropped (None: the defaults)."""
    if _HANDED[0] is not None:
        return dict(_HANDED[0])
    if os.environ.get("MLSTUDIO_DATABASE_URL"):
        return None
    return dict(_REMEMBERED[0]) if _REMEMBERED[0] is not None else None


def run_settings() -> Any:
    """``Settings`` for the store this process's tasks belong to (:func:`address`)."""
    from mlstudio.settings import Settings

    found = address()
    if found is None:
        return Settings()
    return Settings(**{k: v for k, v in found.items() if v})
