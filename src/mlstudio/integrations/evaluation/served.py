"""Which model versions each variant of an online experiment was served by.

A serving prediction log (``NS/NAME-predictions``), or outcomes joined to it, has ``model`` and
``version`` columns naming the registry version that answered each row (``version`` is empty
when a fallback answered). The lift report lists them per variant, so a lift is read against
the versions that produced it, and says so when a variant mixed versions (an alias moved
during the experiment) or fell back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any


def served_versions(
    rows: Mapping[str, Sequence[Any]],
    variant_column: str,
    model_column: str = "model",
    version_column: str = "version",
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """({variant: [{"model", "version", "rows"}], most rows first}, notes); empty when the rows
    carry no model and version columns."""
    if model_column not in rows or version_column not in rows:
        return {}, []
    counts: dict[str, Counter[tuple[Any, Any]]] = {}
    for variant, model, version in zip(
        rows[variant_column], rows[model_column], rows[version_column], strict=True
    ):
        counts.setdefault(str(variant), Counter())[(model, version)] += 1
    served: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    for variant in sorted(counts):
        entries = [
            {"model": m, "version": None if v is None else int(v), "rows": n}
            for (m, v), n in counts[variant].most_common()
        ]
        served[variant] = entries
        answered = [e for e in entries if e["version"] is not None]
        fallback = sum(e["rows"] for e in entries if e["version"] is None)
        if len(answered) > 1:
            parts = ", ".join(f"{e['model']}/{e['version']} for {e['rows']} rows" for e in answered)
            notes.append(
                f"variant {variant} was answered by {len(answered)} model versions ({parts}): "
                "its lift mixes them"
            )
        if fallback:
            notes.append(f"variant {variant}: {fallback} rows were answered by a fallback")
    return served, notes
