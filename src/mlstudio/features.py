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
    """The point-in-time training set as a governed :class:`~mlstudio.Dataset`: per-column
    classification and feature provenance ride in its schema (embedded home)."""
    from mlstudio.app.embedded import embedded_studio
    from mlstudio.data.dataset import Dataset

    with embedded_studio() as studio:
        table, summary = studio.features.service.training_table(
            studio.actor,
            entities,
            list(features),
            as_of=as_of,
            domain=domain,
            inclusive=inclusive,
            known_by=known_by,
        )
    return Dataset(table, name=f"training-set:{summary['entities']}")
