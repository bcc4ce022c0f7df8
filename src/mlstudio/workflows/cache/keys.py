"""Cache keys: the task's code identity + task + canonical parameters + input artifact digests
+ the packages its code imports + ``cache_version``. ``explain`` names the parts that changed.

The code part is the task's own code identity (its function and what it references, see
:mod:`mlstudio.modules.code_identity`), or the whole module's digest when the analysis could not
follow the code. The environment part is the import closure of that code, with versions (see
:mod:`mlstudio.workflows.cache.environment`). Components are stored with each task run so that
``runs show --explain`` can name the function, the package and the versions that changed.
"""

from __future__ import annotations

import json
from typing import Any

from mlstudio.core.hashing import digest_of
from mlstudio.workflows.cache import readset

# 2: per-task code identity and the import-closure environment (1: module digest + every
# installed package); results cached under another version are not reused
KEY_VERSION = 2
_PLANNED_WITHOUT = "the run was planned before tasks had their own code identity"


def code_part(code: dict[str, Any], identity: dict[str, Any] | None) -> dict[str, Any]:
    """The ``code`` component of a task of module ``code`` (a plan's code ref)."""
    if identity and "parts" in identity:
        return {"digest": identity["digest"], "parts": identity["parts"]}
    reason = (identity or {}).get("whole_module") or _PLANNED_WITHOUT
    return {"digest": code["digest"], "whole_module": reason}


def input_digest(spec: dict[str, Any]) -> str:
    """Digest of a resolved input (value refs replaced by their digests)."""
    return digest_of(_strip(spec))


def _strip(spec: dict[str, Any]) -> Any:
    if "v" in spec:
        return {"v": spec["v"]["digest"], "p": spec.get("p", [])}
    if "c" in spec:
        return {"c": spec["c"]}
    if "l" in spec:
        return {"l": [_strip(s) for s in spec["l"]]}
    if "d" in spec:
        return {"d": {k: _strip(s) for k, s in spec["d"].items()}}
    return spec


def components(
    code: dict[str, Any],
    task: str,
    inputs: dict[str, Any],
    env: dict[str, Any],
    cache_version: str,
) -> dict[str, Any]:
    """Everything the key covers; ``code`` from :func:`code_part`, ``env`` from
    :class:`~mlstudio.workflows.cache.environment.TaskEnvironments`."""
    params = {k: v["c"] for k, v in inputs.items() if "c" in v}
    data = {k: input_digest(v) for k, v in inputs.items() if "c" not in v}
    return {
        "v": KEY_VERSION,
        "code": code,
        "task": task,
        "params": params,
        "inputs": data,
        "env": env,
        "cache_version": cache_version,
    }


def cache_key(parts: dict[str, Any]) -> str:
    return digest_of(parts)


def explain(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """Human reasons why ``current`` misses where ``previous`` was computed."""
    if previous is None:
        return ["first run of this task (nothing to compare with)"]
    reasons: list[str] = []
    task = current.get("task")
    if previous.get("v") != current.get("v"):
        reasons.append(
            f"cache key format changed (key version {previous.get('v')} → {current.get('v')}): "
            "results cached before it are not reused"
        )
    else:
        reasons += _code_changes(task, previous.get("code"), current.get("code"))
        if previous.get("task") != task:
            reasons.append(f"task changed ({previous.get('task')} → {task})")
        reasons += _env_changes(previous.get("env"), current.get("env"))
        if previous.get("cache_version") != current.get("cache_version"):
            reasons.append(
                f"cache_version changed ({previous.get('cache_version')!r} → {current.get('cache_version')!r})"
            )
    old_p, new_p = previous.get("params", {}), current.get("params", {})
    for name in sorted(set(old_p) | set(new_p)):
        before, after = old_p.get(name, _ABSENT), new_p.get(name, _ABSENT)
        if before != after:
            reasons.append(f"parameter {name} changed ({_short(before)} → {_short(after)})")
    old_i, new_i = previous.get("inputs", {}), current.get("inputs", {})
    for name in sorted(set(old_i) | set(new_i)):
        if old_i.get(name) != new_i.get(name):
            reasons.append(
                f"input {name} changed (upstream output {str(old_i.get(name))[:12]} → {str(new_i.get(name))[:12]})"
            )
    reasons.extend(readset.explain_components(previous, current))  # declared files, policy key
    return reasons or [
        "same key: the cached result was unusable (missing blob, or caching was off)"
    ]


def _code_changes(task: Any, old: Any, new: Any) -> list[str]:
    if old == new:
        return []
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ["code changed"]
    if "parts" in old and "parts" in new:
        before, after = old["parts"], new["parts"]
        changes = [
            _part_change(task, name, before.get(name), after.get(name))
            for name in sorted(set(before) | set(after), key=_part_order)
            if before.get(name) != after.get(name)
        ]
        return changes or ["code changed (the code analysis changed)"]
    digests = f"module digest {str(old.get('digest'))[:12]} → {str(new.get('digest'))[:12]}"
    if "whole_module" in new:
        return [
            f"code changed ({digests}; {task} is keyed on its whole module: {new['whole_module']})"
        ]
    return [
        f"code changed: {task} is now keyed on the code it uses "
        f"(it was keyed on its whole module: {old.get('whole_module')})"
    ]


def _part_order(name: str) -> tuple[int, str]:
    """Definitions first, then top-level code, then the module's other files."""
    symbol = name.rpartition(":")[2]
    return (0 if not symbol.startswith("<") else 1 if ":" in name else 2, name)


def _describe_part(name: str, value: str) -> str:
    kind = value.split(":", 1)[0]
    if kind == "files":
        return "the module's files that are not Python (data, configuration)"
    file, _, symbol = name.rpartition(":")
    if kind == "code":
        return f"the top-level code of {file}"
    return f"{kind} {symbol} in {file}"


def _part_change(task: Any, name: str, before: str | None, after: str | None) -> str:
    if before is None:
        return f"code changed: {task} now uses {_describe_part(name, str(after))}"
    if after is None:
        return f"code changed: {task} no longer uses {_describe_part(name, before)}"
    old_kind, new_kind = before.split(":", 1)[0], after.split(":", 1)[0]
    if old_kind != new_kind:
        file, _, symbol = name.rpartition(":")
        return f"code changed: {symbol} in {file} ({old_kind} → {new_kind})"
    return f"code changed: {_describe_part(name, after)}"


def _env_changes(old: Any, new: Any) -> list[str]:
    if old == new:
        return []
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ["environment changed"]
    reasons = [
        f"environment changed: {label} {old.get(key)} → {new.get(key)}"
        for key, label in (("python", "Python"), ("platform", "platform"))
        if old.get(key) != new.get(key)
    ]
    if bool(old.get("all")) != bool(new.get("all")):
        reasons.append(
            "environment changed: every installed package counts now (the code's imports "
            "cannot be found statically)"
            if new.get("all")
            else "environment changed: only the packages the code imports count now"
        )
    before, after = old.get("packages") or {}, new.get("packages") or {}
    for name in sorted(set(before) | set(after)):
        if before.get(name) == after.get(name):
            continue
        line = f"environment changed: {name} {before.get(name, '∅')} → {after.get(name, '∅')}"
        if name not in before:
            line += " (installed, or newly imported)"
        elif name not in after:
            line += " (uninstalled, or no longer imported)"
        reasons.append(line)
    for name in sorted(set(new.get("missing", [])) - set(old.get("missing", []))):
        reasons.append(f"environment changed: {name} is imported but no installed package has it")
    return reasons or ["environment changed"]


_ABSENT = object()  # a parameter the task did not have in one of the two runs


def _short(value: Any) -> str:
    if value is _ABSENT:
        return "∅"
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "…"
