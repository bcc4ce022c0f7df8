"""The import layers of docs/architecture.md, checked on the source (every import statement,
including those inside functions; ``if TYPE_CHECKING:`` blocks are annotations only)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mlstudio

ROOT = Path(mlstudio.__file__).parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, package: str | None = None) -> set[str]:
    """Absolute names imported by ``path`` outside ``if TYPE_CHECKING:`` blocks (``package``:
    the package relative imports are resolved against; by default the file's own)."""
    tree = ast.parse(path.read_text(), str(path))
    if package is None:
        package = _module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _sources(*globs: str) -> list[Path]:
    out: list[Path] = []
    for pattern in globs:
        out.extend(sorted(ROOT.glob(pattern)))
    assert out, globs
    return out


def _violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in paths:
        for name in sorted(_imports(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


EDGES = ("mlstudio.cli", "mlstudio.api", "mlstudio.app", "mlstudio.client", "mlstudio.platform")
STORAGE = ("mlstudio.store", "sqlalchemy", "alembic", "psycopg", "fsspec", "ray")


def test_core_is_pure():
    core = _sources("core/*.py")
    allowed = ("mlstudio.core", "mlstudio.errors")
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in core
        for name in _imports(p)
        if name.startswith("mlstudio") and not name.startswith(allowed)
    ]
    assert bad == []
    assert _violations(core, STORAGE) == []


def test_the_engine_talks_to_protocols_only():
    engine = _sources("workflows/engine*.py")
    forbidden = (*EDGES, *STORAGE, "mlstudio.integrations", "mlstudio.scheduling")
    assert _violations(engine, forbidden) == []


@pytest.mark.parametrize(
    "module",
    [
        "classification",
        "policy",
        "propagation",
        "sql_lineage",
        "sql_expand",
        "sql_reads",
        "column_identity",
    ],
)
def test_governance_rules_are_pure(module):
    path = ROOT / "governance" / f"{module}.py"
    assert _violations([path], (*EDGES, *STORAGE)) == []


def test_services_do_not_import_the_edges():
    """Nothing below the edges imports them (or ``platform.py``); the SDK's calls go through
    two documented entry points: ``mlstudio.app.embedded`` outside a run, ``mlstudio.app.in_run``
    inside one (as the run's user, under its domain)."""
    below = [
        p
        for p in _sources("**/*.py")
        if p.relative_to(ROOT).parts[0] not in ("cli", "api", "app", "client", "testing")
        and p.name != "platform.py"
    ]
    bad = [
        v
        for v in _violations(below, EDGES)
        if not v.endswith(
            ("imports mlstudio.app.embedded", "mlstudio.app.embedded.embedded_studio")
        )
        and " imports mlstudio.app.in_run" not in v
    ]
    assert bad == []


def test_the_layer_check_sees_function_level_imports(tmp_path):
    """The checker itself: an import inside a function counts, one under TYPE_CHECKING not."""
    sample = tmp_path / "probe.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mlstudio.store import x\n"
        "def f():\n    from mlstudio.cli import main\n    from ..api import app\n"
    )
    found = _imports(sample, package="mlstudio.core")
    assert {"mlstudio.cli", "mlstudio.api"} <= found and "mlstudio.store" not in found
