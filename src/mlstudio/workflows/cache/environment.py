"""The environment part of a cache key: the installed distributions a task's code imports.

A task's imports (found statically, see :mod:`mlstudio.modules.code_identity`) are resolved to
the distributions that provide them (``sklearn`` -> ``scikit-learn``), then closed over their
``Requires-Dist`` that are installed (scikit-learn pulls numpy, scipy, joblib, threadpoolctl):
the part is those distributions with their versions, plus the Python version and platform.
Installing or upgrading anything else leaves the key alone.

- Optional dependencies (``extra == ...``) are not followed: a package does not import them
  unless asked to, and following them would pull in test and docs tooling.
- pyarrow counts for every task: mlstudio hands and stores every table through it. mlstudio's
  own version does not count (an editable install never changes it, and a release would
  invalidate every cache); a release that changes how values reach a task bumps ``KEY_VERSION``.
- An import no installed distribution provides is listed as missing, so installing it later
  changes the key. A task whose imports cannot be found statically gets every installed
  distribution.
- A module with ``requirements`` is resolved against its own uv environment (its
  site-packages, then the host ones it layers over), not its lock: the same rule for both.

Reading every distribution's metadata takes ~0.2 s, so the resolution is remembered per
environment, on disk, under a stamp of its search path: the names and mtimes of each folder's
``*.dist-info``/``*.egg-info``/``*.pth`` entries, which change when a distribution is installed,
upgraded or removed (and not when a script's folder on the path gains a file).
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import sys
import sysconfig
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstudio.core.hashing import sha256_bytes

SNAPSHOT_VERSION = 1
ALWAYS = ("pyarrow",)  # mlstudio's table codec: every table a task gets or returns
_EXCLUDED = frozenset({"mlstudio"})
_HOST_PTH = "zz_mlstudio_host.pth"  # see mlstudio.modules.envs


@dataclass(frozen=True)
class Installed:
    """The distributions found on one search path."""

    versions: dict[str, str]  # canonical name -> version
    requires: dict[str, list[str]]  # canonical name -> canonical names it requires (no extras)
    providers: dict[str, list[str]]  # top-level import name -> canonical names providing it

    def to_json(self) -> dict[str, Any]:
        return {"versions": self.versions, "requires": self.requires, "providers": self.providers}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Installed:
        return cls(data["versions"], data["requires"], data["providers"])


def canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def scan(paths: list[str]) -> Installed:
    """Read the metadata of every distribution on ``paths`` (the first of a name wins)."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    versions: dict[str, str] = {}
    requires: dict[str, list[str]] = {}
    providers: dict[str, list[str]] = {}
    for dist in metadata.distributions(path=paths):
        raw = dist.metadata["Name"]
        if not raw:
            continue
        name = canonical(raw)
        if name in versions or name in _EXCLUDED:
            continue
        versions[name] = dist.version
        needs: set[str] = set()
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                needs.add(canonical(req.name))
        requires[name] = sorted(needs)
        for top in _top_levels(dist):
            providers.setdefault(top, []).append(name)
    return Installed(versions, requires, providers)


def _top_levels(dist: Any) -> set[str]:
    declared = dist.read_text("top_level.txt")
    if declared:
        return {line.strip() for line in declared.splitlines() if line.strip()}
    names: set[str] = set()
    for file in dist.files or []:
        parts = file.parts
        name = parts[0] if len(parts) > 1 else inspect.getmodulename(parts[0])
        if name and name.isidentifier():
            names.add(name)
    return names


def closure(installed: Installed, imports: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """(canonical name -> version of every distribution the imports reach, imports no
    installed distribution provides)."""
    missing: list[str] = []
    stack: list[str] = []
    for top in sorted(set(imports)):
        found = installed.providers.get(top)
        if not found and canonical(top) in installed.versions:
            found = [canonical(top)]  # an install without a file list (editable, egg)
        if not found:
            missing.append(top)
        stack.extend(found or [])
    reached: dict[str, str] = {}
    while stack:
        name = stack.pop()
        if name in reached or name not in installed.versions:
            continue
        reached[name] = installed.versions[name]
        stack.extend(installed.requires.get(name, []))
    return dict(sorted(reached.items())), missing


def interpreter() -> dict[str, str]:
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": sysconfig.get_platform(),
    }


def environment_part(installed: Installed, imports: list[str] | None) -> dict[str, Any]:
    """The ``env`` component of a key; ``imports`` None means every installed distribution."""
    if imports is None:
        return {**interpreter(), "packages": dict(sorted(installed.versions.items())), "all": True}
    packages, missing = closure(installed, [*imports, *ALWAYS])
    part: dict[str, Any] = {**interpreter(), "packages": packages}
    if missing:
        part["missing"] = missing
    return part


# --- search paths and their remembered snapshots ----------------------------------------------
def host_paths(exclude: Iterable[Path] = ()) -> list[str]:
    """The folders this interpreter imports distributions from (not mlstudio's caches)."""
    skip = [str(p.resolve()) for p in exclude]
    out: list[str] = []
    for entry in sys.path:
        if not entry or not os.path.exists(entry):
            continue
        full = os.path.abspath(entry)
        if any(full == s or full.startswith(s + os.sep) for s in skip) or full in out:
            continue
        out.append(full)
    return out


def module_env_paths(python: str) -> list[str]:
    """The search path of a module environment: its site-packages, then the host folders its
    ``.pth`` file layers under them."""
    root = Path(python).parent.parent
    out: list[str] = []
    for site in sorted(root.glob("lib/python*/site-packages")):
        out.append(str(site))
        pth = site / _HOST_PTH
        if pth.is_file():
            out.extend(ln.strip() for ln in pth.read_text().splitlines() if ln.strip())
    return [p for p in dict.fromkeys(out) if os.path.exists(p)]


_METADATA_SUFFIXES = (".dist-info", ".egg-info", ".egg-link", ".pth")


def stamp(paths: list[str]) -> str:
    """What the distributions on ``paths`` depend on: each folder's metadata entries (names and
    mtimes). Other files coming and going (a script's folder, /tmp) leave it alone; installing,
    upgrading or removing a distribution changes it."""
    entries = []
    for path in paths:
        try:
            if not os.path.isdir(path):  # a zip or egg on the path
                entries.append(f"{path}\0{os.stat(path).st_mtime_ns}")
                continue
            with os.scandir(path) as listing:
                found = sorted(
                    f"{e.name}\0{e.stat().st_mtime_ns}"
                    for e in listing
                    if e.name.endswith(_METADATA_SUFFIXES)
                )
            entries.append(f"{path}\0{len(found)}")
            entries.extend(found)
        except OSError:
            entries.append(f"{path}\0-")
    text = "\n".join([str(SNAPSHOT_VERSION), sys.version, *entries])
    return sha256_bytes(text.encode())


def installed_on(paths: list[str], cache_dir: Path) -> Installed:
    """``scan(paths)``, remembered on disk under the paths' stamp."""
    file = cache_dir / "environments" / f"{stamp(paths)[:32]}.json"
    try:
        return Installed.from_json(json.loads(file.read_text()))
    except (OSError, ValueError, KeyError):
        pass
    found = scan(paths)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(found.to_json()))
        os.replace(tmp, file)
    except OSError:
        pass
    return found


class TaskEnvironments:
    """``(code ref, task identity) -> env component``, for one engine: each search path is
    stamped and read once, each (environment, imports) resolved once."""

    def __init__(self, cache_dir: Path, env_python: Callable[[dict[str, Any]], str | None]) -> None:
        self.cache_dir = cache_dir
        self.env_python = env_python
        self._installed: dict[str | None, Installed] = {}
        self._pythons: dict[tuple[str, ...], str | None] = {}
        self._parts: dict[tuple[str | None, tuple[str, ...] | None], dict[str, Any]] = {}

    def __call__(self, code: dict[str, Any], identity: dict[str, Any] | None) -> dict[str, Any]:
        requirements = tuple(code.get("requirements") or ())
        if requirements not in self._pythons:
            self._pythons[requirements] = self.env_python(code) if requirements else None
        python = self._pythons[requirements]
        imports = identity.get("imports") if identity else None
        key = (python, tuple(imports) if imports is not None else None)
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = environment_part(
                self.installed(python), list(imports) if imports is not None else None
            )
        return part

    def installed(self, python: str | None) -> Installed:
        found = self._installed.get(python)
        if found is None:
            if python is None:
                paths = host_paths(exclude=[self.cache_dir])
            else:
                paths = module_env_paths(python)
            found = self._installed[python] = installed_on(paths, self.cache_dir)
        return found
