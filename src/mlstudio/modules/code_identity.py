"""Per-task code identity: the code a task's result depends on, read statically from source.

A task's identity covers its own function and every module-level function, class, constant
and import it references, transitively, across the module's own files (``from helpers import
clean`` is followed into ``helpers.py``). Each piece is the AST dump of its statements, so
comments, blank lines, formatting and docstrings do not count (docstrings are documentation;
a file that reads them, with ``__doc__`` or ``getdoc``, keeps them). Annotations count:
mlstudio converts values to them. The identity is a map ``"helpers.py:clean" ->
"function:<digest>"`` (so ``--explain`` can name what changed) plus the top-level names of the
packages the code imports (the environment part of the key follows them, see
:mod:`mlstudio.workflows.cache.environment`).

Fail-safe rules (never a stale hit):
- Top-level code that runs for its effect when the module is imported (``random.seed(0)``,
  ``pd.set_option(...)``, an import nothing in the file uses, a star import) counts for every
  task, in every file the loader imports; so does the code it references.
- Definitions registered through something the task uses count: a function decorated with
  ``@register`` counts for a task that uses ``register`` (or the registry ``register`` writes
  to), a subclass counts for a task that uses its base class (``Base.__subclasses__()``).
- Files of the module that are not Python (data, configuration) count for every task: a task
  may read any file shipped with it. ``module.toml`` and Markdown/reST documentation do not.
- What the analysis cannot follow makes the task fall back to the whole-module digest and to
  every installed package: ``exec``/``eval``/``compile``/``__import__``/``globals()``/
  ``vars()``, ``importlib``/``runpy``/``pkgutil``/``sys.modules``/``builtins``, running
  processes (``subprocess``, ``os.system``, ``os.exec*``; they may run a script of the module),
  a star import of one of the module's files, an attribute of a module file that is not
  defined at its top level, and a file that does not parse. The reason is stored and shown.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlstudio.core.hashing import digest_of, sha256_bytes, sha256_chunks
from mlstudio.modules.code_facts import (
    FileFacts,
    ImportTarget,
    StatementRefs,
    parse_file,
    statement_refs,
)

ANALYSIS_VERSION = 1
TOP_LEVEL = "<top-level code>"
MODULE_FILES = "<module files>"
_NOT_RESOURCES = ("module.toml",)
_DOC_SUFFIXES = (".md", ".rst")

_DYNAMIC_BUILTINS = frozenset({"eval", "exec", "compile", "globals", "vars", "__import__"})
_DYNAMIC_QUALIFIED = (
    "importlib.import_module",
    "importlib.reload",
    "importlib.util",
    "importlib.machinery",
    "importlib.__import__",
    "runpy",
    "pkgutil",
    "sys.modules",
    "builtins",
    "subprocess",
    "os.system",
    "os.popen",
)
_DYNAMIC_PREFIXES = ("os.exec", "os.spawn", "os.posix_spawn")
# mlstudio's Dataset converts with pandas (to_pandas) and queries with duckdb (sql)
_DATASET_PACKAGES = ("pandas", "duckdb")


@dataclass(frozen=True)
class TaskLocation:
    name: str  # the task's name
    file: str  # posix path of its file inside the module
    function: str | None  # the module-level name bound to it (None: by line, or ``name``)
    line: int | None = None


class _Unresolvable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def task_identities(
    files: Mapping[str, bytes], tasks: Iterable[TaskLocation], entrypoints: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The code identity of every task, by task name.

    ``files`` is every file of the module (posix path -> bytes); ``entrypoints`` are the files
    the loader imports. A task whose code cannot be followed gets ``{"whole_module": reason,
    "imports": None}`` (keyed on the module digest and every installed package)."""
    module = _Module(files)
    entries = sorted(set(entrypoints))
    out: dict[str, dict[str, Any]] = {}
    for task in tasks:
        closure = _Closure(module)
        try:
            for entry in entries:
                closure.enter(entry)
            closure.task(task)
            closure.settle()
        except _Unresolvable as exc:
            out[task.name] = {"whole_module": exc.reason, "imports": None}
            continue
        except Exception as exc:  # a bug here must never fail a push: fall back instead
            reason = f"the code analysis failed ({type(exc).__name__}: {exc})"
            out[task.name] = {"whole_module": reason[:300], "imports": None}
            continue
        out[task.name] = closure.identity()
    return out


def identity_digest(parts: Mapping[str, str]) -> str:
    return digest_of({"analysis": ANALYSIS_VERSION, "parts": dict(parts)})


def _statements_digest(stmts: list[ast.stmt]) -> str:
    return sha256_bytes("\n".join(ast.dump(s) for s in stmts).encode())[:16]


def _dynamic(qualified: str) -> bool:
    return qualified.startswith(_DYNAMIC_PREFIXES) or any(
        qualified == q or qualified.startswith(q + ".") for q in _DYNAMIC_QUALIFIED
    )


class _Module:
    """The files of one module, parsed on demand."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.sources = {p: d for p, d in files.items() if p.endswith(".py")}
        self.by_module: dict[str, str] = {}
        self.namespaces: set[str] = set()
        for rel in self.sources:
            parts = rel[:-3].split("/")
            for depth in range(1, len(parts)):
                self.namespaces.add(".".join(parts[:depth]))
            name = ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)
            self.by_module[name] = rel
        self.namespaces -= set(self.by_module)
        self.tops = {m.split(".")[0] for m in (*self.by_module, *self.namespaces)}
        self._facts: dict[str, FileFacts] = {}
        self._refs: dict[tuple[str, str], StatementRefs] = {}
        self._digests: dict[tuple[str, str], str] = {}
        resources = sorted(
            (p, sha256_bytes(d))
            for p, d in files.items()
            if not p.endswith(".py")
            and p not in _NOT_RESOURCES
            and not p.lower().endswith(_DOC_SUFFIXES)
        )
        self.resources = (
            sha256_chunks(f"{p}\0{d}\n".encode() for p, d in resources)[:16] if resources else None
        )

    def facts(self, rel: str) -> FileFacts:
        found = self._facts.get(rel)
        if found is None:
            found = self._facts[rel] = parse_file(rel, self.sources[rel])
        if found.error:
            raise _Unresolvable(found.error)
        return found

    def refs(self, rel: str, name: str) -> StatementRefs:
        """What the statements binding ``name`` (or, for ``TOP_LEVEL``, the file's top-level
        code) reference."""
        key = (rel, name)
        if key not in self._refs:
            facts = self.facts(rel)
            self._refs[key] = statement_refs(facts, self._statements(facts, name))
        return self._refs[key]

    def digest(self, rel: str, name: str) -> str:
        key = (rel, name)
        if key not in self._digests:
            self._digests[key] = _statements_digest(self._statements(self.facts(rel), name))
        return self._digests[key]

    @staticmethod
    def _statements(facts: FileFacts, name: str) -> list[ast.stmt]:
        return facts.ambient if name == TOP_LEVEL else facts.bindings.get(name, [])

    def file_of(self, dotted: str) -> str | None:
        return self.by_module.get(dotted)

    def files_under(self, dotted: str) -> list[str]:
        prefix = dotted.replace(".", "/") + "/"
        return sorted(r for r in self.sources if r.startswith(prefix))

    def parents(self, dotted: str) -> list[str]:
        """Package ``__init__`` files that run before ``dotted`` is imported."""
        parts = dotted.split(".")
        found = (self.by_module.get(".".join(parts[:i])) for i in range(1, len(parts)))
        return [f for f in found if f and f.endswith("__init__.py")]


class _Closure:
    """The definitions, top-level code and imports one task reaches."""

    def __init__(self, module: _Module) -> None:
        self.module = module
        self.parts: dict[str, str] = {}
        self.imports: set[str] = set()
        self.named: set[tuple[str, str]] = set()
        self.followed: set[tuple[str, str, tuple[str, ...]]] = set()
        self.triggered: set[tuple[str, str]] = set()  # reached by a non-structural reference
        self.entered: list[str] = []
        self.whole: set[str] = set()

    # --- entry points -------------------------------------------------------------------------
    def task(self, task: TaskLocation) -> None:
        if task.file not in self.module.sources:
            raise _Unresolvable(f"{task.file} is not a file of the module")
        facts = self.module.facts(task.file)
        function = task.function or _function_at(facts, task.line) or task.name
        if function not in facts.bindings:  # made by a factory, or bound in a way not seen
            raise _Unresolvable(f"{task.file}: no top-level statement binds {task.name}")
        self.enter(task.file)
        self.name(task.file, function, (), trigger=True)

    def enter(self, rel: str) -> None:
        """``rel`` is imported: its top-level code runs (and so do the imports it makes)."""
        if rel in self.entered:
            return
        self.entered.append(rel)
        facts = self.module.facts(rel)
        for parent in self.module.parents(facts.module):
            self.enter(parent)
        if facts.ambient:
            self.parts[f"{rel}:{TOP_LEVEL}"] = f"code:{self.module.digest(rel, TOP_LEVEL)}"
            self.refs(rel, self.module.refs(rel, TOP_LEVEL))
        for target in [*facts.side_effect_imports, *facts.star_imports]:
            self.executed(target)
        for target in facts.top_level_imports:
            if self._is_sibling(target.module):
                self.enter_dotted(target.module, target.attr)

    def executed(self, target: ImportTarget) -> None:
        """An import statement runs: a module file's top-level code, or a package is loaded."""
        if not target.module and target.attr:  # ``from . import helpers`` in a top-level file
            self.executed(ImportTarget(target.attr, None, target.line))
        elif self._is_sibling(target.module):
            self.enter_dotted(target.module, target.attr)
        elif target.module:
            self.external(target.module, (), target.line, used=False)

    def enter_dotted(self, dotted: str, attr: str | None = None) -> None:
        rel = self.module.file_of(dotted)
        if rel is not None:
            self.enter(rel)
        if attr is not None and self.module.file_of(f"{dotted}.{attr}"):
            self.enter_dotted(f"{dotted}.{attr}")

    # --- resolution ---------------------------------------------------------------------------
    def refs(self, rel: str, found: StatementRefs) -> None:
        for target in found.local_imports:
            self.executed(target)
        for ref in found.refs:
            local = found.local_bindings.get(ref.name)
            if local:  # bound by an import inside the function (approximately: by name)
                for target in local:
                    self.target(target, ref.attrs)
            else:
                self.name(rel, ref.name, ref.attrs, trigger=not ref.structural, line=ref.line)

    def name(
        self, rel: str, name: str, attrs: tuple[str, ...], *, trigger: bool, line: int = 0
    ) -> None:
        facts = self.module.facts(rel)
        stmts = facts.bindings.get(name)
        targets = facts.imports.get(name)
        if not stmts and not targets:
            self._unbound(facts, name, line)
            return
        key = (rel, name)
        if trigger:
            self.triggered.add(key)
        if stmts and key not in self.named:
            self.named.add(key)
            self.parts[f"{rel}:{name}"] = f"{facts.kind_of(name)}:{self.module.digest(rel, name)}"
            self.refs(rel, self.module.refs(rel, name))
        if (rel, name, attrs) in self.followed:
            return
        self.followed.add((rel, name, attrs))
        for target in targets or []:
            self.target(target, attrs)

    def _unbound(self, facts: FileFacts, name: str, line: int) -> None:
        """A name the file does not bind: a builtin, a local, or one from a star import."""
        for star in facts.star_imports:
            if self._is_sibling(star.module):
                raise _Unresolvable(
                    f"{facts.rel}:{star.line}: names come from a star import of {star.module}"
                )
        if name in _DYNAMIC_BUILTINS:
            raise _Unresolvable(
                f"{facts.rel}:{line}: {name}() runs or looks up code the analysis cannot see"
            )

    def target(self, target: ImportTarget, attrs: tuple[str, ...]) -> None:
        chain = (target.attr, *attrs) if target.attr is not None else attrs
        self.dotted(target.module, chain, target.line)

    def dotted(self, dotted: str, chain: tuple[str, ...], line: int) -> None:
        if not dotted:  # ``from . import helpers`` in a top-level file
            if chain:
                self.dotted(chain[0], chain[1:], line)
            return
        rel = self.module.file_of(dotted)
        if rel is not None:
            self.enter(rel)
            self.inside(rel, chain, line)
        elif dotted in self.module.namespaces:
            if chain:
                self.dotted(f"{dotted}.{chain[0]}", chain[1:], line)
            else:
                for sub in self.module.files_under(dotted):
                    self.enter(sub)
                    self.whole_file(sub)
        elif dotted.split(".")[0] in self.module.tops:
            raise _Unresolvable(f"line {line}: {dotted} is not a file of the module")
        else:
            self.external(dotted, chain, line)

    def inside(self, rel: str, chain: tuple[str, ...], line: int) -> None:
        """``chain`` looked up on the module object of file ``rel``."""
        if not chain:
            self.whole_file(rel)
            return
        facts = self.module.facts(rel)
        name, rest = chain[0], chain[1:]
        if name in facts.bindings or name in facts.imports:
            self.name(rel, name, rest, trigger=True, line=line)
        elif self._is_sibling(f"{facts.module}.{name}"):
            self.dotted(f"{facts.module}.{name}", rest, line)
        elif name == "__dict__":
            self.whole_file(rel)
        elif name.startswith("__") and name.endswith("__"):
            return
        elif any(self._is_sibling(s.module) for s in facts.star_imports):
            self._unbound(facts, name, line)
        elif facts.star_imports:
            return  # from an external star import, which counts as top-level code
        else:
            raise _Unresolvable(
                f"line {line}: {facts.module}.{name} is not defined at the top of {rel}"
            )

    def whole_file(self, rel: str) -> None:
        if rel in self.whole:
            return
        self.whole.add(rel)
        self.enter(rel)
        facts = self.module.facts(rel)
        for name in sorted(set(facts.bindings) | set(facts.imports)):
            self.name(rel, name, (), trigger=True)

    def external(self, dotted: str, chain: tuple[str, ...], line: int, used: bool = True) -> None:
        """A package's ``dotted.chain``; ``used``: referenced, not only imported."""
        qualified = ".".join([dotted, *chain])
        if used and _dynamic(qualified):
            raise _Unresolvable(f"line {line}: uses {qualified}, which the analysis cannot follow")
        top = dotted.split(".")[0]
        if top == "mlstudio":  # its own imports are not followed; its Dataset's are
            if "Dataset" in qualified.split("."):
                self.imports.update(_DATASET_PACKAGES)
            return
        if top in sys.stdlib_module_names or top == "__future__":
            return
        self.imports.add(top)

    def _is_sibling(self, dotted: str) -> bool:
        return dotted in self.module.by_module or dotted in self.module.namespaces

    # --- registrations ------------------------------------------------------------------------
    def settle(self) -> None:
        """Add definitions registered through something the task uses, until nothing changes."""
        while True:
            attached = _attachments(self.module, list(self.entered))
            pending = sorted(
                d for key in self.triggered for d in attached.get(key, ()) if d not in self.named
            )
            if not pending:
                return
            for rel, name in pending:
                self.name(rel, name, (), trigger=True)

    def identity(self) -> dict[str, Any]:
        parts = dict(sorted(self.parts.items()))
        if self.module.resources:
            parts[MODULE_FILES] = f"files:{self.module.resources}"
        return {"digest": identity_digest(parts), "parts": parts, "imports": sorted(self.imports)}


def _function_at(facts: FileFacts, line: int | None) -> str | None:
    if line is None:
        return None
    for name, stmts in facts.bindings.items():
        for stmt in stmts:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([stmt.lineno, *(d.lineno for d in stmt.decorator_list)])
                if first == line or stmt.lineno == line:
                    return name
    return None


def _attachments(
    module: _Module, entered: list[str]
) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """key -> definitions attached to it: decorated by something that reaches it, or
    subclassing it (only files that were imported register anything)."""
    out: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for rel in entered:
        facts = module.facts(rel)
        for name, stmts in facts.bindings.items():
            for stmt in stmts:
                if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    continue
                refs = [r for r in module.refs(rel, name).refs if r.structural]
                for ref in refs:
                    root = _key(module, rel, ref.name, ref.attrs)
                    if root is None:
                        continue
                    reach = _reachable(module, root) if ref.role == "decorator" else {root}
                    for key in reach:
                        if key != (rel, name):
                            out.setdefault(key, set()).add((rel, name))
    return out


def _key(
    module: _Module, rel: str, name: str, attrs: tuple[str, ...], depth: int = 0
) -> tuple[str, str] | None:
    """The module-level definition a reference lands on (following imports of the module's
    files), or None when it is a package's, a builtin or unknown."""
    if depth > 20:
        return None
    try:
        facts = module.facts(rel)
    except _Unresolvable:
        return None
    targets = facts.imports.get(name)
    if not targets:
        return (rel, name) if name in facts.bindings else None
    target = targets[0]
    chain = (target.attr, *attrs) if target.attr is not None else attrs
    found = module.file_of(target.module)
    if found is None or not chain:
        return None
    return _key(module, found, chain[0], chain[1:], depth + 1)


def _reachable(module: _Module, start: tuple[str, str]) -> set[tuple[str, str]]:
    seen = {start}
    stack = [start]
    while stack:
        rel, name = stack.pop()
        try:
            refs = module.refs(rel, name).refs
        except _Unresolvable:
            continue
        for ref in refs:
            key = _key(module, rel, ref.name, ref.attrs)
            if key is not None and key not in seen:
                seen.add(key)
                stack.append(key)
    return seen


def identities_of_definitions(
    files: Mapping[str, bytes], definitions: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Identities of the tasks among ``definitions`` (as introspection describes them); the
    loader imports every file that holds a definition."""
    tasks = [
        TaskLocation(d["name"], d["file"], d.get("attr") or d.get("function"), d.get("line"))
        for d in definitions
        if d.get("kind") == "task" and d.get("file")
    ]
    entrypoints = {d["file"] for d in definitions if d.get("file")}
    return task_identities(files, tasks, entrypoints)
