"""What changed between two versions of a dataset's schema (said when a re-import publishes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def schema_changes(
    previous: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Columns added, removed and retyped from ``previous`` to ``current`` (each a list of
    ``{"name", "type", ...}``), in the order of the schema they belong to."""
    before = {c["name"]: c.get("type") for c in previous}
    after = {c["name"]: c.get("type") for c in current}
    return {
        "columns_added": [name for name in after if name not in before],
        "columns_removed": [name for name in before if name not in after],
        "types_changed": [
            {"column": name, "from": before[name], "to": type_}
            for name, type_ in after.items()
            if name in before and before[name] != type_
        ],
    }


def any_change(changes: dict[str, Any] | None) -> bool:
    return bool(changes) and any(changes[key] for key in changes if isinstance(changes[key], list))


def describe_schema_changes(changes: dict[str, Any]) -> str:
    """``columns added: a, b; removed: c; retyped: d (int64 → string)``, or ``same columns``."""
    parts = []
    if changes["columns_added"]:
        parts.append(f"columns added: {', '.join(changes['columns_added'])}")
    if changes["columns_removed"]:
        parts.append(f"columns removed: {', '.join(changes['columns_removed'])}")
    if changes["types_changed"]:
        retyped = ", ".join(
            f"{c['column']} ({c['from']} → {c['to']})" for c in changes["types_changed"]
        )
        parts.append(f"types changed: {retyped}")
    return "; ".join(parts) or "same columns"
