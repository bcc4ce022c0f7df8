"""Platform calls from inside a task: as the user who started the run, under the run's domain,
in the store the run belongs to (which the worker was handed:
:func:`mlstudio.workflows.executors.store.run_settings`). ``load_model``, ``training_set`` and
``materialize`` go through it, so what they may do is exactly what that user may do from the
CLI in that domain, checked and audited by the services themselves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunAccess:
    platform: Any
    actor: str
    domain: str | None  # None: the run is gone (the platform's own actor then)
    run_id: str
    node_id: str | None


def current_run() -> tuple[str, str | None] | None:
    """``(run_id, node_id)`` of the task this code runs in, or None outside a run."""
    from mlstudio.workflows.sdk import current

    context = current()
    return (context.run_id, context.node_id) if context.run_id is not None else None


@contextmanager
def run_access(run_id: str, node_id: str | None) -> Iterator[RunAccess]:
    """The run's platform, opened with the worker's own store access (the task sandbox lets it
    through), closed on exit."""
    from mlstudio.platform import Platform
    from mlstudio.workflows.executors.store import run_settings
    from mlstudio.workflows.sandbox import trusted

    with trusted():
        platform = Platform.open(run_settings(), bootstrap=False)
        try:
            with platform.store.read() as uow:
                run = uow.runs.get_run(run_id)
            actor = run.created_by if run is not None else platform.actor
            domain = run.domain if run is not None else None
            yield RunAccess(platform, actor, domain, run_id, node_id)
        finally:
            platform.close()


def not_cached(reason: str) -> None:
    """Keep the running task's result out of the cache (it read data through the platform whose
    newest versions a cache key cannot name, or it had an effect): see ``readset.cacheable``."""
    from mlstudio.workflows.sdk import current

    context = current()
    if context.run_id is not None:
        context._uncacheable = reason


def platform_input(label: str, table: Any) -> None:
    """Count ``table`` (Arrow, classified in its field metadata) as an input of the running
    task for classification: data read through the platform (a training set) reaches its
    outputs without being one of its inputs, so the engine could not otherwise see it. A
    proven copy of one of its columns keeps that column's tags; any other output column gets
    the union with all of them (``runtime._encode_output``)."""
    from mlstudio.workflows.sdk import current

    context = current()
    if context.run_id is not None:
        found = getattr(context, "_platform_inputs", None)
        if found is None:
            found = context._platform_inputs = {}
        found[f"{label}#{len(found) + 1}"] = table


def remember_features(refs: list[str], summary: dict[str, Any]) -> None:
    """Keep what a training set built in the running task joined (the references as written,
    the view versions, the columns each gave, the source dataset versions) in its read set
    (``features``): a cache hit checks they still hold (``features.cached_reads``), and a model
    registered from the run records them in its lineage (``registry.feature_lineage``)."""
    from mlstudio.workflows.sdk import current

    context = current()
    if context.run_id is None:
        return
    columns: dict[str, list[str]] = {}
    for column in summary.get("columns") or []:
        view = (column.get("provenance") or {}).get("view")
        if view:
            columns.setdefault(view, []).append(column["name"])
    found = getattr(context, "_feature_reads", None)
    if found is None:
        found = context._feature_reads = []
    found.append(
        {
            "refs": list(refs),
            "views": [{"view": v, "columns": columns.get(v, [])} for v in summary["views"]],
            "sources": list(summary.get("sources") or []),
        }
    )
