"""Which feature view versions a model version was trained with.

A task that builds a training set with ``mlstudio.features.training_set`` keeps the views it
joined in its read set: :func:`built_features` reads them from the run's tasks.

A run that trains on a point-in-time training set reads a dataset whose source is ``features``
(``mlstudio features training-set … --save NS/NAME``): its version records the view versions it
joined and, per column, the view it came from. Registering a model from that run records those
views in the version's lineage (``features``), and each view's consumers list the model
(``features show VIEW``), so editing a view never silently changes what a model was trained on
and a view's owners can see which models depend on it.
"""

from __future__ import annotations

from typing import Any

from mlstudio.errors import NotFoundError


def training_features(uow: Any, datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{"view": "NS/VIEW@V", "columns": [...], "via": "NS/SET@N"}]`` for the training sets
    among a run's pinned ``datasets`` (lineage entries with ``name`` and ``version``)."""
    from mlstudio.data.catalog import get_dataset

    found: list[dict[str, Any]] = []
    for entry in datasets:
        name, version = entry.get("name"), entry.get("version")
        if not name or version is None:
            continue
        try:
            record = get_dataset(uow, str(name), int(version))
        except NotFoundError:  # deleted since the run: its lineage still names it
            continue
        source = record.source or {}
        if source.get("kind") != "features":
            continue
        for view in source.get("views") or []:
            columns = [
                c["name"] for c in record.columns if (c.get("provenance") or {}).get("view") == view
            ]
            found.append({"view": view, "columns": columns, "via": record.ref})
    return found


def built_features(uow: Any, run_id: str) -> list[dict[str, Any]]:
    """``[{"view": "NS/VIEW@V", "columns": [...], "via": "run:RUN/NODE", "sources": [...]}]``
    for the training sets the tasks of run ``run_id`` built (``training_set`` in a task: its
    read set's ``features``). Every such task of the run counts, not only the model's
    ancestors: a run that builds two training sets for two models lists both."""
    found: list[dict[str, Any]] = []
    for task_run in uow.runs.task_runs_of(run_id):
        for built in (task_run.read_set or {}).get("features") or []:
            for view in built.get("views") or []:
                found.append(
                    {
                        "view": view["view"],
                        "columns": list(view.get("columns") or []),
                        "via": f"run:{run_id}/{task_run.node_id}",
                        "sources": list(built.get("sources") or []),
                    }
                )
    return found


def record_model_usage(
    uow: Any, features: list[dict[str, Any]], model: str, version: int, actor: str
) -> None:
    """List ``model/version`` among the consumers of each view it was trained with."""
    for item in features:
        full, _, view_version = item["view"].partition("@")
        if view_version.isdigit():
            uow.features.record_usage(
                full, int(view_version), f"model:{model}/{version}", item["columns"], actor
            )
