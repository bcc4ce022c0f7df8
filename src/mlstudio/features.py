"""The feature SDK: ``from mlstudio.features import Entity, FeatureView, training_set``.

Define entities and feature views at the top level of a module; pushing the module registers
each view as an immutable version. :func:`training_set` builds a point-in-time training set.
"""

from __future__ import annotations

from typing import Any

from mlstudio.integrations.features.definitions import Entity, FeatureView

__all__ = ["Entity", "FeatureView", "materialize", "training_set"]


def training_set(
    entities: Any,
    features: list[str],
    *,
    as_of: str,
    domain: str = "experimentation",
    inclusive: bool = False,
    known_by: bool = True,
) -> Any:
    """The point-in-time training set as a governed :class:`~mlstudio.Dataset`: per-column
    classification and feature provenance ride in its schema.

    Inside a task it is built as the run's user under the run's domain (``domain`` is then
    ignored, like ``load_model``'s). The task's result is cached when ``entities`` is one of
    its inputs (a ``Dataset``): a hit is used only while the references resolve to the same
    view versions and those read the same dataset versions, and the new run's domain may read
    them (``integrations.features.cached_reads``); with ``entities`` as a name it is not cached.
    Outside a run it uses the embedded home."""
    from mlstudio.app.in_run import (
        current_run,
        not_cached,
        platform_input,
        remember_features,
        run_access,
    )
    from mlstudio.data.dataset import Dataset

    def build(service: Any, actor: str, reading: str) -> Any:
        table, summary = service.training_table(
            actor,
            entities,
            list(features),
            as_of=as_of,
            domain=reading,
            inclusive=inclusive,
            known_by=known_by,
        )
        return Dataset(table, name=f"training-set:{summary['entities']}"), summary

    where = current_run()
    if where is not None:
        with run_access(*where) as access:
            result, summary = build(
                _service(access.platform), access.actor, access.domain or domain
            )
        if isinstance(entities, str):  # read through the platform: not in the cache key
            not_cached(f"it built a training set on dataset {entities} (pass it as an input)")
        platform_input("training-set", result.to_arrow())
        remember_features(list(features), summary)
        return result
    from mlstudio.app.embedded import embedded_studio

    with embedded_studio() as studio:
        return build(studio.features.service, studio.actor, domain)[0]


def materialize(
    view: str, *, store: str = "sqlite", full: bool = False, domain: str = "production"
) -> dict[str, Any]:
    """Write the newest value per key of feature view ``view`` (``NS/VIEW[@V]``) to the online
    store (``sqlite`` or ``redis``), incrementally (``full``: everything): ``mlstudio features
    materialize`` as a call, so a scheduled workflow can run it (cached never, retried and
    audited like any task). Inside a task: as the run's user, under the run's domain."""
    from mlstudio.app.in_run import current_run, not_cached, run_access

    where = current_run()
    if where is not None:
        with run_access(*where) as access:
            result = _service(access.platform).materialize(
                access.actor, view, store=store, domain=access.domain or domain, full=full
            )
        not_cached("it wrote to the online feature store")
        return result
    from mlstudio.app.embedded import embedded_studio

    with embedded_studio() as studio:
        return studio.features.service.materialize(
            studio.actor, view, store=store, domain=domain, full=full
        )


def _service(platform: Any) -> Any:
    from mlstudio.integrations.features.service import FeatureService

    return FeatureService(platform.store, platform.cas, platform.settings.home)
