"""Run in a clean subprocess: import a module's entrypoints and print its tasks/workflows as JSON.

Invoked as ``python -m mlstudio.modules._introspect_main DIR ENTRY...``.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path


def _locate(exc: BaseException, root: Path) -> str:
    if isinstance(exc, SyntaxError) and exc.filename:
        try:
            rel = Path(exc.filename).resolve().relative_to(root)
            return f"{rel.as_posix()}:{exc.lineno}: SyntaxError: {exc.msg}"
        except ValueError:
            pass
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        try:
            rel = Path(frame.filename).resolve().relative_to(root)
        except ValueError:
            continue
        return f"{rel.as_posix()}:{frame.lineno}: {type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _feature_views(module: object, entry: str) -> list[dict]:
    """The feature views a module defines at top level (only if it imported the feature SDK)."""
    definitions = sys.modules.get("mlstudio.integrations.features.definitions")
    if definitions is None:
        return []
    out = []
    for attr, obj in vars(module).items():
        if isinstance(obj, definitions.FeatureView) and not attr.startswith("_"):
            out.append({**obj.describe(), "file": entry, "attr": attr})
    return out


def _prompts(module: object, entry: str) -> list[dict]:
    """The prompts a module defines at top level (only if it imported the prompt SDK)."""
    prompts = sys.modules.get("mlstudio.integrations.genai.prompts")
    if prompts is None:
        return []
    return [
        {**obj.describe(), "file": entry, "attr": attr}
        for attr, obj in vars(module).items()
        if isinstance(obj, prompts.Prompt) and not attr.startswith("_")
    ]


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve()
    entries = argv[1:]
    sys.path.insert(0, str(root))
    from mlstudio.workflows.definitions import Definition

    found: list[dict] = []
    views: list[dict] = []  # feature views (mlstudio.features.FeatureView), registered on push
    prompts: list[dict] = []  # prompts (mlstudio.genai.Prompt), recorded on push
    seen: dict[str, str] = {}
    for entry in entries:
        module_name = entry[:-3].replace("/", ".")
        try:
            module = importlib.import_module(module_name)
        except BaseException as exc:  # user code: report every kind of failure
            print(json.dumps({"ok": False, "error": _locate(exc, root)}))
            return 0
        views.extend(_feature_views(module, entry))
        prompts.extend(_prompts(module, entry))
        for attr, obj in vars(module).items():
            if not isinstance(obj, Definition) or attr.startswith("_"):
                continue
            if getattr(obj.fn, "__module__", None) != module.__name__:
                continue  # imported from elsewhere
            info = obj.describe()
            info["file"] = entry
            info["attr"] = attr  # the module-level name bound to it (its code identity's root)
            if info["name"] in seen and seen[info["name"]] != entry:
                message = (
                    f"{entry}:{info['line']}: {obj.kind} name {info['name']!r} is also defined in "
                    f"{seen[info['name']]}; names must be unique within a module"
                )
                print(json.dumps({"ok": False, "error": message}))
                return 0
            seen[info["name"]] = entry
            found.append(info)
    found.sort(key=lambda d: (d["kind"], d["name"]))
    names = [v["name"] for v in views]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        message = f"feature view {twice[0]!r} is defined twice; names must be unique in a module"
        print(json.dumps({"ok": False, "error": message}))
        return 0
    names = [p["name"] for p in prompts]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        message = f"prompt {twice[0]!r} is defined twice; names must be unique in a module"
        print(json.dumps({"ok": False, "error": message}))
        return 0
    print(
        json.dumps({"ok": True, "definitions": found, "feature_views": views, "prompts": prompts})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
