"""Prompts as the registry keeps them: under the module version that defines them."""

from __future__ import annotations

from typing import Any

from mlstudio.errors import NotFoundError
from mlstudio.integrations.genai.prompts import Prompt, PromptRef


def _row_view(row: dict[str, Any]) -> dict[str, Any]:
    spec = row["spec"]
    return {
        "ref": f"{row['module']}/{row['name']}@{row['module_version']}",
        "module": row["module"],
        "module_version": int(row["module_version"]),
        "name": row["name"],
        "digest": row["digest"],
        "template": spec.get("template", ""),
        "system": spec.get("system", ""),
        "variables": spec.get("variables") or {},
        "description": spec.get("description", ""),
        "file": spec.get("file"),
    }


def find_prompt(platform: Any, ref: str) -> tuple[Prompt, dict[str, Any]]:
    """The prompt ``ref`` names (``NS/MODULE/NAME[:TAG|@V]``) and its registry view, with the
    module version it resolved to and the versions where its digest changed."""
    parsed = PromptRef.parse(ref)
    version = platform.modules.resolve(parsed.module_ref)
    with platform.store.read() as uow:
        rows = uow.genai.prompts(parsed.module)
    here = [r for r in rows if r["module_version"] == version.version]
    found = next((r for r in here if r["name"] == parsed.name), None)
    if found is None:
        names = sorted(r["name"] for r in here)
        raise NotFoundError(
            f"module {version.ref} defines no prompt {parsed.name!r}"
            + (f" (it defines: {', '.join(names)})" if names else " (it defines no prompts)"),
            hint="check the name, or list them: mlstudio prompt list " + parsed.module,
        )
    view = _row_view(found)
    view["requested"] = str(parsed)
    history = [r for r in rows if r["name"] == parsed.name]
    changes, last = [], None
    for row in history:
        if row["digest"] != last:
            changes.append({"module_version": int(row["module_version"]), "digest": row["digest"]})
            last = row["digest"]
    view["versions"] = changes
    return Prompt.from_spec(found["spec"]), view


def list_prompts(platform: Any, module: str | None = None) -> list[dict[str, Any]]:
    """The newest version of every prompt (of ``module``, or of every module)."""
    if module is not None:
        from mlstudio.core.ids import ModuleName

        ModuleName.parse(module)
    with platform.store.read() as uow:
        rows = uow.genai.prompts(module)
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:  # ordered by module, name, version
        newest[(row["module"], row["name"])] = row
    return [_row_view(row) for row in newest.values()]
