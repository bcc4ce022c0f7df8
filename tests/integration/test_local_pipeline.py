"""Tiny tasks pipelined to the local executor's workers: a worker that dies holding tasks it
had not started hands them to another without spending their attempts, and a run cancelled
while workers hold unstarted tasks ends with none of them left running."""

from __future__ import annotations

import threading
from typing import Any

from mlstudio.testing.flows import marker, wait_until, write_flow
from mlstudio.workflows.options import RunOptions

FLOW = """
import os
import time
from pathlib import Path

from mlstudio import task, workflow

@task
def items(n: int) -> list[int]:
    return list(range(n))

@task
def tiny(x: int) -> int:
    return x

@task(retries=1, retry_delay=0)
def dies_once(x: int) -> int:
    if x == 7 and not Path(MARKERS, "died").exists():
        Path(MARKERS, "died").write_text(str(os.getpid()))
        os._exit(1)
    return x

@task
def nap(x: int) -> int:
    time.sleep(0.005)
    return x

@task
def total(xs: list[int]) -> int:
    return sum(xs)

@workflow
def fan(n: int = 40) -> int:
    return total(tiny.map(x=items(n)))

@workflow
def fragile(n: int = 60) -> int:
    return total(dies_once.map(x=items(n)))

@workflow
def slow(n: int = 400) -> int:
    return total(nap.map(x=items(n)))
"""


def pipelined_executor(platform: Any, flow) -> Any:
    """A started local executor that has seen tiny tasks, so it pipelines them."""
    from mlstudio.workflows.executors.local import LocalExecutor

    executor = LocalExecutor(max_workers=2, pipeline=16)
    executor.start()
    warm = platform.runs.submit("alice", f"{flow}:fan", {"n": "60"}, RunOptions(no_cache=True))
    assert platform.runs.execute(warm.id, executor=executor).state == "succeeded"
    assert executor.deepest > 1, "the tiny tasks were not pipelined"
    return executor


def test_a_worker_dying_with_unstarted_tasks_hands_them_on(studio, tmp_path):
    flow = write_flow(tmp_path, FLOW)
    with studio.opened() as platform:
        executor = pipelined_executor(platform, flow)
        try:
            record = platform.runs.submit("alice", f"{flow}:fragile", {"n": "60"})
            run = platform.runs.execute(record.id, executor=executor)
            assert run.state == "succeeded", run.error
            assert platform.runs.output_value(run) == sum(range(60))
            with platform.store.read() as uow:
                rows = {r.node_id: r for r in uow.runs.task_runs_of(run.id)}
        finally:
            executor.shutdown()
    assert marker(tmp_path, "died").exists()
    assert rows["dies_once[7]"].attempt == 2  # its worker died under it: that was attempt 1
    others = {
        n: r.attempt
        for n, r in rows.items()
        if n.startswith("dies_once[") and n not in ("dies_once[7]", "dies_once[*]")
    }
    assert len(others) == 59 and set(others.values()) == {1}


def test_cancelling_while_workers_hold_unstarted_tasks(studio, tmp_path):
    flow = write_flow(tmp_path, FLOW)
    with studio.opened() as platform:
        executor = pipelined_executor(platform, flow)
        try:
            record = platform.runs.submit("alice", f"{flow}:slow", {"n": "400"})
            outcome: dict[str, Any] = {}
            driver = threading.Thread(
                target=lambda: outcome.update(
                    run=platform.runs.execute(record.id, executor=executor)
                ),
                daemon=True,
            )
            driver.start()

            def some_done() -> bool:
                with platform.store.read() as uow:
                    counts = uow.runs.task_counts([record.id]).get(record.id, {})
                return counts.get("succeeded", 0) >= 20

            wait_until(some_done, "20 tasks to succeed", 120)
            platform.runs.cancel("alice", record.id)
            driver.join(120)
            assert not driver.is_alive(), "the engine did not stop"
            assert outcome["run"].state == "cancelled"
            with platform.store.read() as uow:
                left = {r.state for r in uow.runs.task_runs_of(record.id)}
            assert left <= {"succeeded", "cancelled"} and "cancelled" in left
            assert executor.running == {}
            # the pool is not wedged: the next run on it finishes
            again = platform.runs.submit(
                "alice", f"{flow}:fan", {"n": "10"}, RunOptions(no_cache=True)
            )
            assert platform.runs.execute(again.id, executor=executor).state == "succeeded"
        finally:
            executor.shutdown()
