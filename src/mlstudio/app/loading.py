"""``mlstudio.load_model("models:/NAME@ALIAS")``: a registered model, resolved and checked by
the registry before a single byte of it is unpickled.

Outside a run it goes through this process's studio (the server with ``MLSTUDIO_URL``, else
the embedded home), read under ``domain`` (default ``MLSTUDIO_DOMAIN`` or experimentation).
Inside a task it is read under the run's own domain, as the user who started the run, and the
read is recorded with the run and the task (the registry's lineage of who used a version) and
in the task's read set, so a cached result is only reused while the uri names the same version
and the new run may read it (see :mod:`mlstudio.workflows.cache.readset`).
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
        view, data = _in_run(uri, context.run_id, context.node_id)
        remember_read(context, uri, view)
        return view, data
    from mlstudio.app import open_studio

    studio = open_studio()
    try:
        return studio.models.download(uri, domain=domain or os.environ.get("MLSTUDIO_DOMAIN"))
    finally:
        studio.close()


def remember_read(context: Any, uri: str, view: dict[str, Any]) -> None:
    """Keep the read for the task's read set (``cache.readset``): the uri as written and what
    it resolved to. A cache hit re-resolves the uri and re-checks the read for its own run."""
    reads = getattr(context, "_model_reads", None)
    if reads is None:
        reads = context._model_reads = {}
    reads.setdefault(
        uri,
        {
            "uri": uri,
            "name": view["model"],
            "version": view["version"],
            "digest": view["digest"],
            # what the task's outputs inherit from it (runtime._encode_output)
            "classification": view.get("classification"),
        },
    )


def _in_run(uri: str, run_id: str, node_id: str | None) -> tuple[dict[str, Any], bytes]:
    """As the run's user, under the run's domain, in the store the run belongs to (which the
    worker was handed: :func:`mlstudio.workflows.executors.store.run_settings`); the worker's
    own store access."""
    from mlstudio.app.in_run import run_access

    with run_access(run_id, node_id) as access:
        return access.platform.registry.load(access.actor, uri, run_id=run_id, node_id=node_id)
