"""``mlstudio module new``: a module folder that pushes and passes its tests as is."""

from __future__ import annotations

from pathlib import Path

from mlstudio.core.ids import ModuleName
from mlstudio.errors import ConflictError

_MANIFEST = """[module]
name = "{full}"
description = "{name} tasks for the {ns} team"
owners = ["{owner}"]
# Python requirements of this module (PEP 508). When set, the module's tests and tasks run in
# a virtual environment built with uv and cached by the resolved lock.
requirements = []
"""

_TASKS = '''"""Tasks and workflows of {full}."""

from mlstudio import task, workflow


@task
def scale(values: list[float], factor: float = 2.0) -> list[float]:
    """Multiply every value by ``factor``."""
    return [v * factor for v in values]


@task
def total(values: list[float]) -> float:
    """Sum the values."""
    return sum(values)


@workflow
def pipeline(factor: float = 2.0) -> float:
    """Scale a few numbers, then add them up."""
    return total(scale([1.0, 2.0, 3.0], factor=factor))
'''

_TEST = """from tasks import pipeline, scale, total


def test_scale_multiplies_each_value():
    assert scale([1.0, 2.5], factor=2.0) == [2.0, 5.0]


def test_pipeline_runs_end_to_end_in_process():
    assert total([1.0, 2.0]) == 3.0
    assert pipeline(factor=3.0) == 18.0
"""


def scaffold_module(name: ModuleName, directory: Path, owner: str) -> list[Path]:
    """Write the files; refuses to overwrite a folder that already has a module.toml."""
    if (directory / "module.toml").exists():
        raise ConflictError(
            f"{directory / 'module.toml'} already exists", hint="pick an empty folder"
        )
    files = {
        "module.toml": _MANIFEST.format(
            full=name.full, name=name.name, ns=name.namespace, owner=owner
        ),
        "tasks.py": _TASKS.format(full=name.full),
        "tests/test_tasks.py": _TEST,
    }
    written = []
    for rel in files:
        path = directory / rel
        if path.exists():
            raise ConflictError(f"{path} already exists", hint="pick an empty folder")
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
