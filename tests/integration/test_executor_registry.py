"""Executors by name (issue 11.5): the built-ins, one registered by a call, one from an entry
point; an unknown name is refused in one line before anything is recorded."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.testing.flows import write_flow
from mlstudio.workflows.executors.registry import ExecutorRegistry, executors

FLOW = """
from mlstudio import task, workflow

@task
def double(x: int) -> int:
    return 2 * x

@workflow
def twice(x: int = 4) -> int:
    return double(double(x))
"""


class CountingExecutor:
    """A real local executor that counts what it was handed (the custom executor under test)."""

    name = "counting"
    supports_cancel = True
    made: list[CountingExecutor] = []

    def __init__(self, context) -> None:
        from mlstudio.workflows.executors.local import LocalExecutor

        self.inner = LocalExecutor(context.settings.max_workers)
        self.run_id = context.run.id if context.run else None
        self.submitted: list[str] = []
        CountingExecutor.made.append(self)

    def start(self) -> None:
        self.inner.start()

    def capacity(self) -> int:
        return self.inner.capacity()

    def submit(self, dispatch) -> None:
        self.submitted.append(dispatch.node_id)
        self.inner.submit(dispatch)

    def poll(self, timeout: float):
        return self.inner.poll(timeout)

    def cancel(self, task_run_ids):
        return self.inner.cancel(task_run_ids)

    def shutdown(self) -> None:
        self.inner.shutdown()


def test_builtins_are_known_without_importing_them():
    probe = (
        "import sys\n"
        "from mlstudio.workflows.executors.registry import executors\n"
        "names = executors.names()\n"
        "assert {'local', 'queue', 'ray'} <= set(names), names\n"
        "loaded = [m for m in sys.modules if m == 'ray' or m.startswith('mlstudio.workflows.executors.')]\n"
        "assert loaded == ['mlstudio.workflows.executors.registry'], loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_registered_executor_runs_the_workflow(studio, tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "_factories", dict(executors._factories))
    executors.register("counting", CountingExecutor)
    CountingExecutor.made.clear()
    flow = write_flow(tmp_path, FLOW)
    run = studio.ok("run", f"{flow}:twice", "-p", "x=5", "--executor", "counting")
    assert run["state"] == "succeeded" and run["output_value"] == 20
    assert run["executor"] == "counting"
    (made,) = CountingExecutor.made
    assert made.run_id == run["id"] and made.submitted == ["double", "double-2"]


def test_an_unknown_executor_is_refused_and_records_nothing(studio, tmp_path):
    flow = write_flow(tmp_path, FLOW)
    result = studio.fails("run", f"{flow}:twice", "--executor", "nope", code=2)
    assert "unknown executor 'nope'" in result.stderr and "local" in result.stderr
    assert studio.ok("runs", "list") == []
    with pytest.raises(InvalidInputError, match="invalid executor name"):
        ExecutorRegistry().register("no way", CountingExecutor)


def test_an_entry_point_adds_an_executor(tmp_path, monkeypatch):
    dist = tmp_path / "mlstudio_counting-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mlstudio-counting\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[mlstudio.executors]\ncounting = tests_counting_executor:CountingExecutor\n"
    )
    (tmp_path / "tests_counting_executor.py").write_text(
        "class CountingExecutor:\n    def __init__(self, context):\n        self.context = context\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = ExecutorRegistry()
    assert "counting" in registry.names()
    made = registry.create("counting", "the context")
    assert type(made).__name__ == "CountingExecutor" and made.context == "the context"
