"""Loading module code by digest, side by side in one process.

Every module version (and every working copy a run uses) is stored as an archive in the artifact
store; a process extracts it once into ``cache/modules/<digest>`` and imports it with its folder
on ``sys.path``, so modules use plain absolute imports (``from helpers import x``). After the
import the module's own entries are taken out of ``sys.modules`` again and put back only while
its code runs (``activate``), so two modules that both have a ``tasks.py`` can live in one warm
worker without clashing.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from mlstudio.errors import ModuleImportError, NotFoundError
from mlstudio.modules.archive import extract_archive
from mlstudio.workflows.definitions import Definition


@dataclass
class LoadedModule:
    digest: str
    root: str
    definitions: dict[str, Definition]
    modules: dict[str, ModuleType] = field(default_factory=dict)

    def namespace(self) -> SimpleNamespace:
        return SimpleNamespace(**self.definitions)


def code_ref_for_version(version: Any, tag: str | None = None) -> dict[str, Any]:
    """The lock entry of a pushed module version."""
    from mlstudio.workflows.cache.task_code import stored_task_code

    manifest = version.manifest
    ref = {
        "module": version.module,
        "version": version.version,
        "tag": tag,
        "digest": version.digest,
        "archive": version.archive_digest,
        "entrypoints": sorted({t["file"] for t in version.tasks}),
        "requirements": list(version.requirements),
        "env_digest": version.env_digest,
        "description": manifest.get("description", ""),
    }
    task_code = stored_task_code(version.tasks)
    if task_code is not None:
        ref["task_code"] = task_code
    return ref


_lock = threading.Lock()


class CodeLoader:
    """Per-process cache of loaded module versions, keyed by content digest."""

    def __init__(self, cache_dir: Path, fetch_archive: Any) -> None:
        self.cache_dir = cache_dir / "modules"
        self.fetch_archive = fetch_archive  # digest -> bytes (verified)
        self.loaded: dict[str, LoadedModule] = {}

    def materialize(self, code: dict[str, Any]) -> Path:
        """The extracted folder of a code ref (extracted once, atomically)."""
        target = self.cache_dir / code["digest"]
        if (target / ".complete").is_file():
            return target
        archive = self.fetch_archive(code["archive"])
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{code['digest'][:12]}-", dir=self.cache_dir))
        try:
            extract_archive(archive, tmp)
            (tmp / ".complete").write_text(code["digest"])
            try:
                os.replace(tmp, target)
            except OSError:  # another process extracted it first
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    def add_site(self, python: str) -> None:
        """Let code planned in this process import a module environment's packages (host first)."""
        env_root = Path(python).parent.parent
        for site in env_root.glob("lib/python*/site-packages"):
            if str(site) not in sys.path:
                sys.path.append(str(site))

    def load(self, code: dict[str, Any]) -> LoadedModule:
        digest = code["digest"]
        found = self.loaded.get(digest)
        if found is not None:
            return found
        root = self.materialize(code)
        with _lock:
            loaded = _import_isolated(digest, root, code.get("entrypoints") or [], _source(code))
        self.loaded[digest] = loaded
        return loaded

    def task_code(self, code: dict[str, Any], loaded: LoadedModule) -> dict[str, Any]:
        """The code identity of each task of ``loaded`` (see :mod:`~.cache.task_code`)."""
        from mlstudio.workflows.cache.task_code import task_code_for

        return task_code_for(
            code, Path(loaded.root), loaded.modules, loaded.definitions, self.cache_dir.parent
        )

    @contextmanager
    def activate(self, loaded: LoadedModule) -> Iterator[None]:
        """Make ``loaded``'s own modules importable while its code runs."""
        saved = {name: sys.modules.get(name) for name in loaded.modules}
        sys.modules.update(loaded.modules)
        sys.path.insert(0, loaded.root)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(loaded.root)
            for name, previous in saved.items():
                if previous is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = previous


def _source(code: dict[str, Any]) -> tuple[str, str]:
    """How a failed import names the code, and the fix: a working copy is edited and run again,
    a pushed version is fixed and pushed as a new version."""
    if code.get("version") is None and code.get("path"):
        return f"working copy {code['path']}", "fix the file and run it again"
    version = f"{code['module']}@{code['version']}" if code.get("module") else "module code"
    return version, "fix the module and push a new version"


def _import_isolated(
    digest: str,
    root: Path,
    entrypoints: list[str],
    source: tuple[str, str] = ("module code", "fix the module and push a new version"),
) -> LoadedModule:
    root_text = str(root.resolve())
    names = [e[:-3].replace("/", ".") for e in entrypoints]
    stashed = {
        n: sys.modules.pop(n) for n in list(sys.modules) if n in names or n.split(".")[0] in names
    }
    before = set(sys.modules)
    sys.path.insert(0, root_text)
    importlib.invalidate_caches()
    definitions: dict[str, Definition] = {}
    try:
        for name in names:
            try:
                module = importlib.import_module(name)
            except Exception as exc:
                what, fix = source
                raise ModuleImportError(
                    f"{what}: {name.replace('.', '/')}.py (digest {digest[:12]}) failed to import: "
                    f"{type(exc).__name__}: {exc}",
                    hint=fix,
                ) from exc
            for attr, obj in vars(module).items():
                if (
                    isinstance(obj, Definition)
                    and not attr.startswith("_")
                    and obj.fn.__module__ == name
                ):
                    definitions[obj.name] = obj
    finally:
        sys.path.remove(root_text)
        own: dict[str, ModuleType] = {}
        for name in list(sys.modules):
            if name in before:
                continue
            module = sys.modules[name]
            file = getattr(module, "__file__", None) or ""
            if file.startswith(root_text):
                own[name] = sys.modules.pop(name)
        sys.modules.update(stashed)
    return LoadedModule(digest=digest, root=root_text, definitions=definitions, modules=own)


def eager_use(ref: str) -> SimpleNamespace:
    """``use()`` outside a run (e.g. in a module's tests): load the module from the local home."""
    from mlstudio.app.embedded import embedded_studio

    with embedded_studio() as studio:
        platform = studio.platform
        version = platform.modules.resolve(ref)
        loader = CodeLoader(platform.settings.cache_dir, platform.cas.get)
        loaded = loader.load(code_ref_for_version(version))
    if not loaded.definitions:
        raise NotFoundError(f"{ref} defines no tasks or workflows")
    return loaded.namespace()
