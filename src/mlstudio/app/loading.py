"""``mlstudio.load_model("models:/NAME@ALIAS")``: a registered model, resolved and checked by
the registry before a single byte of it is unpickled.

Outside a run it goes through this process's studio (the server with ``MLSTUDIO_URL``, else
the embedded home), read under ``domain`` (default ``MLSTUDIO_DOMAIN`` or experimentation).
Inside a task it is read under the run's own domain, as the user who started the run, and the
read is recorded with the run and the task (the registry's lineage of who used a version).
"""

from __future__ import annotations

import os
import pickle
from typing import Any

from mlstudio.errors import SerializationError


def load_model(uri: str, *, domain: str | None = None) -> Any:
    """Load ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` (or without ``models:/``).

    Refused, before anything is fetched or unpickled, when the domain may not read the
    classification the version inherited from its training data (audited)."""
    view, data = fetch_model(uri, domain=domain)
    try:
        return pickle.loads(data)
    except Exception as exc:
        raise SerializationError(
            f"{view['ref']} could not be unpickled here: {type(exc).__name__}: {exc}",
            hint="load it where the training task's code and libraries are importable",
        ) from exc


def fetch_model(uri: str, *, domain: str | None = None) -> tuple[dict[str, Any], bytes]:
    """The version view and its pickled bytes, after the registry's checks."""
    from mlstudio.workflows.sdk import current

    context = current()
    if context.run_id is not None:
        return _in_run(uri, context.run_id, context.node_id)
    from mlstudio.app import open_studio

    studio = open_studio()
    try:
        return studio.models.download(uri, domain=domain or os.environ.get("MLSTUDIO_DOMAIN"))
    finally:
        studio.close()


def _in_run(uri: str, run_id: str, node_id: str | None) -> tuple[dict[str, Any], bytes]:
    """As the run's user, under the run's domain; the worker's own store access."""
    from mlstudio.platform import Platform
    from mlstudio.workflows.sandbox import trusted

    with trusted():
        platform = Platform.open(bootstrap=False)
        try:
            with platform.store.read() as uow:
                run = uow.runs.get_run(run_id)
            actor = run.created_by if run is not None else platform.actor
            return platform.registry.load(actor, uri, run_id=run_id, node_id=node_id)
        finally:
            platform.close()
