"""Import a module's code in a clean subprocess and list its tasks and workflows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlstudio.errors import ModuleImportError
from mlstudio.modules.manifest import ModuleManifest

_SKIP = ("test_", "_")


def package_root() -> str:
    """The folder that holds the ``mlstudio`` package, for subprocesses' PYTHONPATH."""
    import mlstudio

    return str(Path(mlstudio.__file__).resolve().parent.parent)


def default_entrypoints(module_dir: Path) -> tuple[str, ...]:
    files = sorted(
        p.name
        for p in module_dir.glob("*.py")
        if p.is_file()
        and not p.name.startswith(_SKIP)
        and p.name not in {"conftest.py", "setup.py"}
    )
    return tuple(files)


def introspect(
    module_dir: Path,
    manifest: ModuleManifest,
    python: str | None = None,
    feature_views: list[dict[str, Any]] | None = None,
    prompts: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Return the descriptions of every task and workflow; raise with ``file:line`` on failure.

    ``feature_views`` and ``prompts``, when given, receive the specs of the module's feature
    views and prompts."""
    entries = manifest.entrypoints or default_entrypoints(module_dir)
    if not entries:
        raise ModuleImportError(
            f"{module_dir} has no Python files with tasks",
            hint="add a tasks.py with an @task function, or list files in [module].entrypoints",
        )
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = package_root()
    proc = subprocess.run(
        [
            python or sys.executable,
            "-m",
            "mlstudio.modules._introspect_main",
            str(module_dir),
            *entries,
        ],
        cwd=module_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModuleImportError(
            f"importing {module_dir.name} failed: {tail}", hint="fix the module code"
        )
    result = json.loads(lines[-1])
    if not result["ok"]:
        raise ModuleImportError(
            f"module code failed to import: {result['error']}", hint="fix the code at that line"
        )
    definitions: list[dict[str, Any]] = result["definitions"]
    views = result.get("feature_views") or []
    if feature_views is not None:
        feature_views.extend(views)
    found_prompts = result.get("prompts") or []
    if prompts is not None:
        prompts.extend(found_prompts)
    if (
        not views
        and not found_prompts
        and not any(d["kind"] in ("task", "workflow") for d in definitions)
    ):
        raise ModuleImportError(
            f"{module_dir.name} defines no @task or @workflow in {', '.join(entries)}",
            hint="decorate at least one function with @mlstudio.task",
        )
    return definitions
