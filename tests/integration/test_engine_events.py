"""The engine's run events (issue 11.4), on SQLite and on Postgres.

The engine emits events; the recorder writes a step's state changes and publishes its events to
the subscribers *in that step's transaction*. A subscriber is added with one call
(``platform.events.subscribe``) and sees the change it reacts to; when it fails, the change it
reacted to is rolled back with it (nothing half-recorded). The engine imports neither the
webhooks nor the audit code: they are subscribers.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mlstudio.core.events import CacheHit, RunEnded, RunStarted, TaskChanged
from mlstudio.testing.flows import write_flow

FLOW = """
from mlstudio import task, workflow

@task
def numbers(n: int) -> list[int]:
    return list(range(n))

@task
def square(x: int) -> int:
    return x * x

@task
def total(xs: list[int]) -> int:
    return sum(xs)

@workflow
def fan(n: int = 3) -> int:
    return total(square.map(x=numbers(n)))
"""


class Boom(Exception):
    pass


def test_a_subscriber_sees_every_step_inside_its_transaction(studio, tmp_path):
    flow = write_flow(tmp_path, FLOW)
    platform = studio.platform()
    seen: list[tuple[str, str, str]] = []
    visible: list[bool] = []

    def on_event(uow, event) -> None:
        if isinstance(event, TaskChanged):
            # the change is already written in the transaction the subscriber is handed
            row = {r.id: r for r in uow.runs.task_runs_of(event.run_id)}[event.task_run_id]
            visible.append(row.state == event.state)
            seen.append((event.name, event.node_id, str(event.state)))
        elif isinstance(event, RunEnded):
            visible.append(uow.runs.get_run(event.run_id).state == event.state)
            seen.append((event.name, "", ""))
        else:
            seen.append((event.name, getattr(event, "node_id", ""), ""))

    platform.events.subscribe(on_event, RunStarted, TaskChanged, CacheHit, RunEnded)
    try:
        first = platform.runs.submit("alice", f"{flow}:fan", {"n": "3"})
        assert platform.runs.execute(first.id).state == "succeeded"
        assert seen[0] == ("run.started", "", "") and seen[-1] == ("run.succeeded", "", "")
        changes = [s for s in seen if s[0] == "task.state"]
        for node in ("numbers", "square[0]", "square[1]", "square[2]", "total"):
            assert [c[2] for c in changes if c[1] == node] == ["running", "succeeded"], node
        assert [c[2] for c in changes if c[1] == "square[*]"] == ["running", "succeeded"]
        assert visible and all(visible)

        seen.clear()
        second = platform.runs.submit("alice", f"{flow}:fan", {"n": "3"})
        assert platform.runs.execute(second.id).state == "succeeded"
        hits = sorted(node for name, node, _ in seen if name == "task.cached")
        assert hits == ["numbers", "square[0]", "square[1]", "square[2]", "total"]
        assert ("task.state", "total", "cached") in seen
    finally:
        platform.close()


def test_a_failing_subscriber_rolls_back_the_step_it_reacted_to(studio, tmp_path):
    flow = write_flow(tmp_path, FLOW)
    platform = studio.platform()

    def refuse_squares(uow, event) -> None:
        if event.node_id.startswith("square[") and event.state == "succeeded":
            raise Boom(event.node_id)

    platform.events.subscribe(refuse_squares, TaskChanged)
    try:
        record = platform.runs.submit("alice", f"{flow}:fan", {"n": "3"})
        with pytest.raises(Boom):
            platform.runs.execute(record.id)
        with platform.store.read() as uow:
            rows = {r.node_id: r for r in uow.runs.task_runs_of(record.id)}
            run = uow.runs.get_run(record.id)
            cached = uow.runs.cache_lookup([r.cache_key for r in rows.values() if r.cache_key])
        assert run.state == "running"  # the end was never reached, let alone recorded
        assert rows["numbers"].state == "succeeded"  # an earlier step stays
        # the step that recorded a square's result was rolled back whole: the results, their
        # cache entries, and what the subscribers wrote
        assert {rows[f"square[{i}]"].state for i in range(3)} == {"running"}
        assert {e.task for e in cached.values()} == {"numbers"}
    finally:
        platform.close()


def test_a_failing_subscriber_of_the_run_end_leaves_the_run_unfinished(studio, tmp_path):
    flow = write_flow(tmp_path, FLOW)
    platform = studio.platform()
    platform.events.subscribe(lambda uow, event: (_ for _ in ()).throw(Boom()), RunEnded)
    try:
        record = platform.runs.submit("alice", f"{flow}:fan", {"n": "2"})
        with pytest.raises(Boom):
            platform.runs.execute(record.id)
        run = platform.runs.get(record.id)
        assert run.state == "running" and run.finished_at is None and run.output is None
        with platform.store.read() as uow:  # the tasks' own steps were committed before
            assert {r.state for r in uow.runs.task_runs_of(record.id)} == {"succeeded"}
    finally:
        platform.close()


ENGINE_FILES = [
    "engine.py",
    "engine_cache.py",
    "engine_governance.py",
    "engine_state.py",
    "engine_values.py",
    "recorder.py",
]
FORBIDDEN = ("mlstudio.integrations", "mlstudio.store", "mlstudio.workflows.subscribers")


def test_the_engine_imports_neither_webhooks_nor_audit():
    import mlstudio.workflows.engine as engine

    folder = Path(engine.__file__).parent
    for name in ENGINE_FILES:
        tree = ast.parse((folder / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(FORBIDDEN), f"{name} imports {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(FORBIDDEN), f"{name} imports {alias.name}"
    # and importing it does not drag them in
    probe = (
        "import sys, mlstudio.workflows.engine, mlstudio.workflows.recorder\n"
        "bad = [m for m in sys.modules if m.startswith(('mlstudio.integrations',"
        " 'mlstudio.store', 'mlstudio.workflows.subscribers'))]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
