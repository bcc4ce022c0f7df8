"""What one Python file of a module defines and references, read from its syntax tree.

The facts feed :mod:`mlstudio.modules.code_identity`: which top-level statements bind which
names (``bindings``), which top-level code runs for its effects on import (``ambient``), what
each import refers to, and the names a statement references (with their attribute chains, so
``helpers.clean`` can be followed into ``helpers.py``). Docstrings are removed from the tree
unless the file reads them (``__doc__``, ``getdoc``), so documentation edits do not count.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (*_DEFS, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class ImportTarget:
    """What a name bound by an import refers to: ``module`` (absolute, dotted), optionally its
    attribute ``attr`` (``from module import attr``)."""

    module: str
    attr: str | None
    line: int


@dataclass(frozen=True)
class Ref:
    """A name a statement reads, with the attributes taken off it (``np.random.seed`` is
    ``Ref("np", ("random", "seed"))``)."""

    name: str
    attrs: tuple[str, ...]
    line: int
    role: str = ""  # "decorator" or "base" for a definition's decorators and base classes

    @property
    def structural(self) -> bool:
        return bool(self.role)


@dataclass
class StatementRefs:
    refs: list[Ref] = field(default_factory=list)
    local_imports: list[ImportTarget] = field(default_factory=list)  # run inside functions
    local_bindings: dict[str, list[ImportTarget]] = field(default_factory=dict)  # their names


@dataclass
class FileFacts:
    rel: str  # posix path inside the module
    module: str  # its dotted import name
    is_package: bool
    bindings: dict[str, list[ast.stmt]] = field(default_factory=dict)
    imports: dict[str, list[ImportTarget]] = field(default_factory=dict)  # name -> targets
    ambient: list[ast.stmt] = field(default_factory=list)  # top-level code run for effect
    side_effect_imports: list[ImportTarget] = field(default_factory=list)
    star_imports: list[ImportTarget] = field(default_factory=list)
    top_level_imports: list[ImportTarget] = field(default_factory=list)  # run on import
    error: str | None = None  # the file could not be parsed

    def kind_of(self, name: str) -> str:
        first = self.bindings[name][0]
        if isinstance(first, ast.ClassDef):
            return "class"
        if isinstance(first, ast.FunctionDef | ast.AsyncFunctionDef):
            return "function"
        if isinstance(first, ast.Import | ast.ImportFrom):
            return "import"
        if isinstance(first, ast.Assign | ast.AnnAssign | ast.AugAssign):
            return "constant"
        return "definition"


def module_name_of(rel: str) -> tuple[str, bool]:
    """``a/b.py`` -> (``a.b``, False); ``a/__init__.py`` -> (``a``, True)."""
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def parse_file(rel: str, source: bytes) -> FileFacts:
    module, is_package = module_name_of(rel)
    facts = FileFacts(rel=rel, module=module, is_package=is_package)
    try:
        tree = ast.parse(source, filename=rel)
    except (SyntaxError, ValueError, UnicodeDecodeError) as exc:
        facts.error = f"{rel} cannot be parsed ({type(exc).__name__})"
        return facts
    keep_docs = b"__doc__" in source or b"getdoc" in source
    loaded = _walk_once(tree, strip_docstrings=not keep_docs)
    body = list(tree.body)
    if keep_docs and body and _is_docstring(body[0]):
        facts.ambient.append(body[0])
    for stmt in body:
        _classify(facts, stmt, loaded)
    return facts


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _walk_once(tree: ast.Module, *, strip_docstrings: bool) -> set[str]:
    """The names the file reads anywhere; removes docstrings on the way when asked."""
    loaded: set[str] = set()
    if strip_docstrings and tree.body and _is_docstring(tree.body[0]):
        tree.body = tree.body[1:]
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.add(node.id)
        elif (
            strip_docstrings
            and isinstance(node, _DEFS)
            and node.body
            and _is_docstring(node.body[0])
        ):
            node.body = node.body[1:] or [ast.Pass()]
    return loaded


def _is_main_guard(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.If) or not isinstance(stmt.test, ast.Compare):
        return False
    sides = [stmt.test.left, *stmt.test.comparators]
    names = {s.id for s in sides if isinstance(s, ast.Name)}
    values = {s.value for s in sides if isinstance(s, ast.Constant)}
    return names == {"__name__"} and values == {"__main__"}


def absolute_module(facts: FileFacts, node: ast.ImportFrom) -> str | None:
    """The absolute module an ``ImportFrom`` names (None for a relative import above the root)."""
    if not node.level:
        return node.module or ""
    package = facts.module.split(".") if facts.is_package else facts.module.split(".")[:-1]
    if node.level - 1 > len(package):
        return None
    base = package[: len(package) - (node.level - 1)]
    if node.module:
        base = [*base, node.module]
    return ".".join(p for p in base if p)


def import_targets(
    facts: FileFacts, node: ast.Import | ast.ImportFrom
) -> list[tuple[str, ImportTarget]]:
    """(bound name, target) for every alias of an import statement (``*`` for a star import)."""
    out: list[tuple[str, ImportTarget]] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                out.append((alias.asname, ImportTarget(alias.name, None, node.lineno)))
            else:
                top = alias.name.split(".")[0]
                out.append((top, ImportTarget(top, None, node.lineno)))
        return out
    module = absolute_module(facts, node)
    if module is None:
        return out
    for alias in node.names:
        out.append((alias.asname or alias.name, ImportTarget(module, alias.name, node.lineno)))
    return out


def executed_imports(facts: FileFacts, node: ast.Import | ast.ImportFrom) -> list[ImportTarget]:
    """What an import statement runs: every module of ``import a.b.c``, ``from m import x``."""
    if isinstance(node, ast.Import):
        return [ImportTarget(alias.name, None, node.lineno) for alias in node.names]
    module = absolute_module(facts, node)
    if module is None:
        return []
    return [
        ImportTarget(module, a.name if a.name != "*" else None, node.lineno) for a in node.names
    ]


def _classify(facts: FileFacts, stmt: ast.stmt, loaded: set[str]) -> None:
    if _is_main_guard(stmt) or isinstance(stmt, ast.Pass) or _is_docstring(stmt):
        return
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        facts.top_level_imports.extend(executed_imports(facts, stmt))
        for name, target in import_targets(facts, stmt):
            if name == "*":
                facts.star_imports.append(target)
                if stmt not in facts.ambient:
                    facts.ambient.append(stmt)
            elif name not in loaded:  # imported for its side effects (or left over)
                facts.side_effect_imports.append(target)
                facts.imports.setdefault(name, []).append(target)
                if stmt not in facts.ambient:
                    facts.ambient.append(stmt)
            else:
                facts.bindings.setdefault(name, []).append(stmt)
                facts.imports.setdefault(name, []).append(target)
        return
    names = _bound_names(stmt)
    if not names or _mutates(stmt):  # ``helpers.LIMIT = 5`` changes what other files see
        facts.ambient.append(stmt)
    if not names:
        return
    for node in _nested_imports(stmt):
        facts.top_level_imports.extend(executed_imports(facts, node))
        for name, target in import_targets(facts, node):
            if name == "*":
                facts.star_imports.append(target)
            else:
                facts.imports.setdefault(name, []).append(target)
    for name in sorted(names):
        facts.bindings.setdefault(name, []).append(stmt)


def _mutates(stmt: ast.stmt) -> bool:
    """Whether a top-level statement assigns to an attribute or item of some object."""
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES):
            continue
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute | ast.Subscript) and isinstance(
                        part.ctx, ast.Store | ast.Del
                    ):
                        return True
        stack.extend(ast.iter_child_nodes(node))
    return False


def _nested_imports(stmt: ast.stmt) -> list[ast.Import | ast.ImportFrom]:
    """Imports in a top-level compound statement (``try: import x``), not in nested scopes."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
            continue
        if isinstance(node, _SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _target_roots(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Tuple | ast.List):
        return set().union(*(_target_roots(e) for e in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return _target_roots(target.value)
    if isinstance(target, ast.Attribute | ast.Subscript):  # CONFIG["x"] = 1 changes CONFIG
        return _target_roots(target.value)
    return set()


def _bound_names(stmt: ast.stmt) -> set[str]:
    """The module-level names a top-level statement binds or changes."""
    if isinstance(stmt, _DEFS):
        return {stmt.name}
    if isinstance(stmt, ast.Assign):
        return set().union(*(_target_roots(t) for t in stmt.targets))
    if isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        return _target_roots(stmt.target)
    if isinstance(stmt, ast.Delete):
        return set().union(*(_target_roots(t) for t in stmt.targets)) if stmt.targets else set()
    if isinstance(stmt, ast.Expr):
        return set()
    names: set[str] = set()
    stack: list[ast.AST] = list(ast.iter_child_nodes(stmt))
    while stack:
        node = stack.pop()
        if isinstance(node, _DEFS):
            names.add(node.name)
            continue
        if isinstance(node, _SCOPES):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update(a.asname or a.name.split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(_target_roots(target))
        stack.extend(ast.iter_child_nodes(node))
    return names


def statement_refs(facts: FileFacts, stmts: list[ast.stmt]) -> StatementRefs:
    """Every name the statements read (decorators and bases marked structural), and the imports
    made inside their function bodies."""
    collector = _RefCollector(facts)
    for stmt in stmts:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            continue  # a binding import: resolved by the name it binds
        if isinstance(stmt, _DEFS):
            collector.visit_definition(stmt)
        else:
            collector.visit(stmt)
    return collector.out


class _RefCollector(ast.NodeVisitor):
    def __init__(self, facts: FileFacts) -> None:
        self.facts = facts
        self.out = StatementRefs()
        self.role = ""

    def visit_definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.role = "decorator"
        for decorator in node.decorator_list:
            self.visit(decorator)
        if isinstance(node, ast.ClassDef):
            self.role = "base"
            for base in node.bases:
                self.visit(base)
        self.role = ""
        if isinstance(node, ast.ClassDef):
            for keyword in node.keywords:
                self.visit(keyword)
            for stmt in node.body:
                self.visit(stmt)
            return
        self._function_parts(node)

    def _function_parts(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.visit(node.args)
        if not isinstance(node, ast.Lambda) and node.returns is not None:
            self._annotation(node.returns)
        body = node.body if isinstance(node.body, list) else [node.body]
        for stmt in body:
            self.visit(stmt)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # nested
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._function_parts(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function_parts(node)

    def visit_arg(self, node: ast.arg) -> None:
        if node.annotation is not None:
            self._annotation(node.annotation)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def _annotation(self, node: ast.expr) -> None:
        """Annotations count (mlstudio converts values to them); string ones are parsed."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                parsed = ast.parse(node.value, mode="eval")
            except SyntaxError:
                return
            for sub in ast.walk(parsed):
                sub.lineno = getattr(node, "lineno", 0)  # type: ignore[attr-defined]
            self.visit(parsed.body)
            return
        self.visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._ref(node.id, (), node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            chain.append(current.attr)
            current = current.value
        if isinstance(current, ast.Name):
            self._ref(current.id, tuple(reversed(chain)), node)
        else:
            self.visit(current)

    def visit_Import(self, node: ast.Import) -> None:
        self._local_import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._local_import(node)

    def _local_import(self, node: ast.Import | ast.ImportFrom) -> None:
        self.out.local_imports.extend(executed_imports(self.facts, node))
        for name, target in import_targets(self.facts, node):
            if name != "*":
                self.out.local_bindings.setdefault(name, []).append(target)

    def _ref(self, name: str, attrs: tuple[str, ...], node: ast.AST) -> None:
        self.out.refs.append(Ref(name, attrs, getattr(node, "lineno", 0), self.role))
