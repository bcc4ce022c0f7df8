"""The feature SDK: ``from mlstudio.features import Entity, FeatureView, training_set``.

Define entities and feature views at the top level of a module; pushing the module registers
each view as an immutable version. :func:`training_set` builds a point-in-time training set.
"""

from __future__ import annotations

from typing import Any

from mlstudio.integrations.features.definitions import Entity, FeatureView

__all__ = ["Entity", "FeatureView", "training_set"]


def training_set(
    entities: Any,
    features: list[str],
    *,
    as_of: str,
    domain: str = "experimentation",
    inclusive: bool = False,
    known_by: bool = True,
) -> Any:
    """The point-in-time training set as a governed :class:`~mlstudio.Dataset` (embedded)."""
    from mlstudio.data.dataset import Dataset
    from mlstudio.integrations.features.service import FeatureService
    from mlstudio.platform import Platform

    platform = Platform.open()
    try:
        service = FeatureService(platform.store, platform.cas, platform.settings.home)
        table, summary = service.training_table(
            platform.actor,
            entities,
            features,
            as_of=as_of,
            domain=domain,
            inclusive=inclusive,
            known_by=known_by,
        )
    finally:
        platform.close()
    return Dataset(table, name=f"training-set:{summary['entities']}")
