"""Per-task code identities of a module in a plan's lock.

A pushed version stores its tasks' identities (computed at push); a working copy, or a version
pushed before identities existed, gets them here at plan time, from the extracted module folder,
remembered on disk by module digest (a re-run of an unchanged working copy reads one file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from mlstudio.modules.archive import ALWAYS_EXCLUDED_DIRS, ALWAYS_EXCLUDED_SUFFIXES
from mlstudio.modules.code_identity import ANALYSIS_VERSION, TaskLocation, task_identities

_MARKERS = {".complete"}  # written by the code loader next to the extracted files


def stored_task_code(tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """The identities a pushed version stored, or None when any task lacks one."""
    found: dict[str, dict[str, Any]] = {}
    for task in tasks:
        if task.get("kind") != "task":
            continue
        if not task.get("code_identity"):
            return None
        found[task["name"]] = task["code_identity"]
    return found or None


def task_code_for(
    ref: dict[str, Any],
    root: Path,
    modules: dict[str, ModuleType],
    definitions: dict[str, Any],
    cache_dir: Path,
) -> dict[str, dict[str, Any]]:
    """Identities of the tasks among ``definitions`` (imported as ``modules`` from ``root``,
    the extracted code of ``ref``), remembered under ``cache_dir``."""
    remembered = cache_dir / "code-identity" / f"{ref['digest']}-{ANALYSIS_VERSION}.json"
    try:
        return json.loads(remembered.read_text())
    except (OSError, ValueError):
        pass
    identities = task_identities(
        _files(root), _locations(root, modules, definitions), ref.get("entrypoints") or []
    )
    try:
        remembered.parent.mkdir(parents=True, exist_ok=True)
        tmp = remembered.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(identities))
        os.replace(tmp, remembered)
    except OSError:
        pass
    return identities


def _locations(
    root: Path, modules: dict[str, ModuleType], definitions: dict[str, Any]
) -> list[TaskLocation]:
    """Where each task is bound: the file that defines it and the top-level name holding it
    there (not a file that imports it, as introspection at push does)."""
    wanted = {id(d) for d in definitions.values()}
    bound: dict[int, tuple[str, str]] = {}
    for module in modules.values():
        try:
            rel = Path(module.__file__ or "").resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
        for attr, obj in vars(module).items():
            if id(obj) in wanted and getattr(obj.fn, "__module__", None) == module.__name__:
                bound.setdefault(id(obj), (rel, attr))
    out = []
    for definition in definitions.values():
        if getattr(definition, "kind", "") == "task":
            rel, attr = bound.get(id(definition), ("", definition.name))
            out.append(TaskLocation(definition.name, rel, attr, None))
    return out


def _files(root: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ALWAYS_EXCLUDED_DIRS]
        for name in filenames:
            if name.endswith(ALWAYS_EXCLUDED_SUFFIXES):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if rel in _MARKERS:
                continue
            out[rel] = path.read_bytes()
    return out
