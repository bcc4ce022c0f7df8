"""``module.toml``: the manifest every module folder carries."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstudio.core.ids import ModuleName, validate_user
from mlstudio.errors import InvalidNameError, ManifestError

MANIFEST_FILE = "module.toml"
_KNOWN_KEYS = {"name", "description", "owners", "requirements", "entrypoints", "exclude", "tests"}


@dataclass(frozen=True)
class ModuleManifest:
    name: ModuleName
    description: str = ""
    owners: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    entrypoints: tuple[str, ...] = ()  # files holding tasks/workflows; default: top-level *.py
    exclude: tuple[str, ...] = ()  # extra glob patterns left out of the build
    tests: str = "tests"  # folder of the module's own tests
    evaluation: dict[str, Any] | None = None  # [evaluation]: the promotion gate it declares
    monitors: dict[str, dict[str, Any]] | None = None  # [monitors.NAME]: created on promotion

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"evaluation": self.evaluation} if self.evaluation else {}
        if self.monitors:
            extra["monitors"] = self.monitors
        return {
            "name": self.name.full,
            "description": self.description,
            "owners": list(self.owners),
            "requirements": list(self.requirements),
            "entrypoints": list(self.entrypoints),
            "exclude": list(self.exclude),
            "tests": self.tests,
            **extra,
        }


@dataclass
class _Reader:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    def fail(self, problem: str, hint: str) -> ManifestError:
        return ManifestError(f"{self.path}: {problem}", hint=hint)

    def string(self, key: str, default: str = "") -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self.fail(f"[module].{key} must be a string", f'write {key} = "…"')
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"[module].{key} must be a list of strings", f'write {key} = ["…"]')
        return tuple(value)


def load_manifest(module_dir: Path) -> ModuleManifest:
    """Read and validate ``DIR/module.toml``; every error names the file and the fix."""
    path = module_dir / MANIFEST_FILE
    if not module_dir.is_dir():
        raise ManifestError(f"{module_dir} is not a folder", hint="pass the module's folder")
    if not path.is_file():
        raise ManifestError(
            f"{path} is missing",
            hint="create it with `mlstudio module new NS/NAME DIR` or add a [module] table",
        )
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path} is not valid TOML: {exc}", hint="fix the syntax") from exc
    section = document.get("module")
    if not isinstance(section, dict):
        raise ManifestError(
            f"{path} has no [module] table", hint='add [module] with name = "ns/name"'
        )
    reader = _Reader(path, section)
    unknown = sorted(set(section) - _KNOWN_KEYS)
    if unknown:
        raise reader.fail(
            f"unknown key(s) in [module]: {', '.join(unknown)}",
            f"allowed keys: {', '.join(sorted(_KNOWN_KEYS))}",
        )
    if "name" not in section:
        raise reader.fail("[module].name is missing", 'add name = "ns/name"')
    try:
        name = ModuleName.parse(reader.string("name"))
    except InvalidNameError as exc:
        raise reader.fail(exc.message, exc.hint or "") from exc
    owners = reader.strings("owners")
    for owner in owners:
        try:
            validate_user(owner)
        except InvalidNameError as exc:
            raise reader.fail(f"owner {owner!r} is not a valid user name", exc.hint or "") from exc
    requirements = tuple(r.strip() for r in reader.strings("requirements") if r.strip())
    for req in requirements:
        _check_requirement(reader, req)
    entrypoints = reader.strings("entrypoints")
    for entry in entrypoints:
        if (
            not entry.endswith(".py")
            or entry.startswith(("/", ".."))
            or not (module_dir / entry).is_file()
        ):
            raise reader.fail(
                f"entrypoint {entry!r} is not a .py file in the module", "list files like tasks.py"
            )
    evaluation = None
    if "evaluation" in document:
        from mlstudio.modules.evaluation_gate import parse_evaluation

        evaluation = parse_evaluation(document["evaluation"], path)
    monitors = None
    if "monitors" in document:
        from mlstudio.modules.monitor_declarations import parse_monitors

        monitors = parse_monitors(document["monitors"], path, name.namespace)
    return ModuleManifest(
        name=name,
        description=reader.string("description"),
        owners=owners,
        requirements=requirements,
        entrypoints=entrypoints,
        exclude=reader.strings("exclude"),
        tests=reader.string("tests", "tests"),
        evaluation=evaluation,
        monitors=monitors,
    )


def _check_requirement(reader: _Reader, req: str) -> None:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(req)
    except InvalidRequirement as exc:
        raise reader.fail(
            f"requirement {req!r} is invalid: {exc}", "use PEP 508, e.g. scikit-learn>=1.4"
        ) from exc
