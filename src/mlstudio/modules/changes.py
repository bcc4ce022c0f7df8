"""What a push changes against the module's previous version: said in the push's output, so a
push over a different folder (a fresh scaffold, another module's code) never publishes
silently."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def module_changes(
    previous: Any,
    previous_files: Iterable[str] | None,
    manifest: dict[str, Any],
    files: Iterable[str],
    definitions: list[dict[str, Any]],
) -> dict[str, Any]:
    """``previous`` is the last version (a ``ModuleVersionRecord``); ``previous_files`` its
    file paths (None when its archive could not be read)."""

    def names(items: list[dict[str, Any]]) -> list[str]:
        return [str(d.get("name")) for d in items]

    before_tasks, after_tasks = names(previous.tasks), names(definitions)
    before_files = None if previous_files is None else sorted(previous_files)
    after_files = sorted(files)
    old_description = previous.manifest.get("description", "")
    old_requirements = list(previous.manifest.get("requirements", []))
    return {
        "previous": previous.ref,
        "description": (
            {"from": old_description, "to": manifest.get("description", "")}
            if old_description != manifest.get("description", "")
            else None
        ),
        "requirements": (
            {"from": old_requirements, "to": list(manifest.get("requirements", []))}
            if old_requirements != list(manifest.get("requirements", []))
            else None
        ),
        "files_added": [] if before_files is None else sorted(set(after_files) - set(before_files)),
        "files_removed": (
            [] if before_files is None else sorted(set(before_files) - set(after_files))
        ),
        "tasks_added": [t for t in after_tasks if t not in before_tasks],
        "tasks_removed": [t for t in before_tasks if t not in after_tasks],
    }


def describe_module_changes(changes: dict[str, Any]) -> list[str]:
    """One line per kind of change, e.g. ``tasks removed: build, assemble``."""
    lines = []
    if changes.get("description"):
        d = changes["description"]
        lines.append(f"description: {d['from']!r} → {d['to']!r}")
    if changes.get("requirements"):
        r = changes["requirements"]
        lines.append(
            f"requirements: {', '.join(r['from']) or 'none'} → {', '.join(r['to']) or 'none'}"
        )
    for key, label in (
        ("tasks_added", "tasks and workflows added"),
        ("tasks_removed", "tasks and workflows removed"),
        ("files_added", "files added"),
        ("files_removed", "files removed"),
    ):
        if changes.get(key):
            lines.append(f"{label}: {', '.join(changes[key])}")
    return lines
