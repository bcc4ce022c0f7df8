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


def _alias_view(alias: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": alias["alias"],
        "set_by": alias["set_by"],
        "set_at": alias["set_at"].isoformat(),
        "report": alias["report"],
    }


def find_prompt(platform: Any, ref: str) -> tuple[Prompt, dict[str, Any]]:
    """The prompt ``ref`` names (``NS/MODULE/NAME[:TAG|@V]``) and its registry view, with the
    module version it resolved to and the versions where its digest changed."""
    parsed = PromptRef.parse(ref)
    alias = None
    if parsed.alias is not None:
        with platform.store.read() as uow:
            alias = uow.genai.alias(parsed.module, parsed.alias)
        if alias is None:
            raise NotFoundError(
                f"module {parsed.module} has no prompt alias {parsed.alias!r}",
                hint=f"see its aliases: mlstudio prompt list {parsed.module}",
            )
        if alias.get("spec"):  # a prompt the search generated: kept in the alias itself
            spec = alias["spec"]
            view = _row_view(
                {
                    "module": parsed.module,
                    "module_version": alias["module_version"],
                    "name": alias["name"],
                    "digest": spec["digest"],
                    "spec": spec,
                }
            )
            view.update(requested=ref.strip(), pinned=False, versions=[], generated=True)
            view["alias"] = _alias_view(alias)
            return Prompt.from_spec(spec), view
        parsed = PromptRef(parsed.module, alias["name"], f"@{alias['module_version']}")
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
    view["requested"] = ref.strip()
    view["pinned"] = alias is None and parsed.suffix.startswith("@")  # tags, aliases move
    if alias is not None:
        view["alias"] = _alias_view(alias)
    history = [r for r in rows if r["name"] == parsed.name]
    changes, last = [], None
    for row in history:
        if row["digest"] != last:
            changes.append({"module_version": int(row["module_version"]), "digest": row["digest"]})
            last = row["digest"]
    view["versions"] = changes
    return Prompt.from_spec(found["spec"]), view


def set_alias(
    platform: Any,
    actor: str,
    module: str,
    alias: str,
    name: str,
    version: int,
    report: Any,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Point ``module``'s prompt alias ``alias`` at prompt ``name`` of module version
    ``version``, or at a generated prompt (``spec``, found in that module version's run) —
    maintainers of the namespace; audited as ``prompt.alias``."""
    from mlstudio.core.ids import ModuleName, validate_tag
    from mlstudio.governance.audit import guarded
    from mlstudio.governance.rbac import Authorizer

    validate_tag(alias)
    namespace = ModuleName.parse(module).namespace
    resource = f"prompt:{module}@{alias}"

    def work(uow: Any) -> dict[str, Any]:
        Authorizer(uow.identity).require_namespace(actor, namespace, "move prompt aliases")
        known = {r["name"]: r["digest"] for r in uow.genai.prompts(module, version)}
        kept = spec
        if kept is not None and known.get(name) == kept.get("digest"):
            kept = None  # the module defines this very prompt: point at it
        if kept is None and name not in known:
            raise NotFoundError(f"module {module}@{version} defines no prompt {name!r}")
        before = uow.genai.alias(module, alias)
        uow.genai.set_alias(module, alias, name, version, report, actor, kept)
        target = f"{module}/{name}@{version}"
        uow.audit.record(
            actor,
            "prompt.alias",
            resource,
            details={
                "to": target,
                "from": (
                    f"{module}/{before['name']}@{before['module_version']}" if before else None
                ),
            },
        )
        return {"alias": f"{module}@{alias}", "prompt": target, "generated": kept is not None}

    return guarded(platform.store, actor, "prompt.alias", resource, work)


def list_prompts(platform: Any, module: str | None = None) -> list[dict[str, Any]]:
    """The newest version of every prompt (of ``module``, or of every module), each with the
    aliases that point at one of its versions."""
    if module is not None:
        from mlstudio.core.ids import ModuleName

        ModuleName.parse(module)
    with platform.store.read() as uow:
        rows = uow.genai.prompts(module)
        aliases = uow.genai.aliases(module)
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:  # ordered by module, name, version
        newest[(row["module"], row["name"])] = row
    out = []
    for row in newest.values():
        view = _row_view(row)
        view["aliases"] = [
            f"{a['alias']} → @{a['module_version']}"
            for a in aliases
            if a["module"] == row["module"] and a["name"] == row["name"]
        ]
        out.append(view)
    return out
