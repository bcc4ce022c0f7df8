"""The local executor's pool under abuse: worker processes killed while they wait for work, and
task processes whose owner (the engine, or a queue worker) is killed outright.

Nothing sleeps and hopes: tests wait for a process to be gone, a marker file or a run's state,
with a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest

from mlstudio.testing.flows import (
    kill_group,
    lines,
    pid_alive,
    start_mlstudio,
    task_dispatch,
    wait_until,
    write_flow,
)
from mlstudio.workflows.options import RunOptions

FAN = """
from mlstudio import task, workflow

@task
def items(n: int) -> list[int]:
    return list(range(n))

@task
def square(x: int) -> int:
    return x * x

@task
def total(xs: list[int]) -> int:
    return sum(xs)

@workflow
def fan(n: int = 6) -> int:
    return total(square.map(x=items(n)))
"""


def execute_within(platform: Any, run_id: str, executor: Any, deadline_s: float = 60.0) -> Any:
    """Drive a run on ``executor`` in a thread; fail (instead of hanging) past the deadline."""
    out: dict[str, Any] = {}

    def drive() -> None:
        try:
            out["run"] = platform.runs.execute(run_id, executor=executor)
        except BaseException as exc:  # reported below
            out["error"] = exc

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    thread.join(deadline_s)
    assert not thread.is_alive(), f"run {run_id} did not finish: the pool is wedged"
    if "error" in out:
        raise out["error"]
    return out["run"]


def test_workers_killed_while_waiting_for_work_never_wedge_the_pool(studio, tmp_path):
    from mlstudio.workflows.executors.local import LocalExecutor

    flow = write_flow(tmp_path, FAN)
    platform = studio.platform()
    executor = LocalExecutor(max_workers=3)
    executor.start()
    killed: set[int] = set()
    try:
        for round_ in range(8):
            record = platform.runs.submit(
                "alice", f"{flow}:fan", {"n": "6"}, RunOptions(no_cache=True)
            )
            run = execute_within(platform, record.id, executor)
            assert run.state == "succeeded", (round_, run.error)
            # every worker now waits for its next task: kill one of them, or all of them
            pids = executor.worker_pids()
            assert len(pids) == 3 and not pids & killed
            victims = pids if round_ % 3 == 2 else {sorted(pids)[round_ % 3]}
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            killed |= victims
            wait_until(lambda v=victims: not any(map(pid_alive, v)), "the victims to die")
        record = platform.runs.submit(
            "alice", f"{flow}:fan", {"n": "20"}, RunOptions(no_cache=True)
        )
        run = execute_within(platform, record.id, executor)
        assert run.state == "succeeded"
        shown = platform.runs.show(record.id, actor="alice")
        assert shown["output_value"] == sum(x * x for x in range(20))
        # killed workers were replaced, the pool kept its size, and no task was lost on them
        assert all(t["attempt"] == 1 for t in shown["tasks"] if t["kind"] == "task")
        assert len(executor.worker_pids()) == 3 and not executor.worker_pids() & killed
    finally:
        executor.shutdown()
        platform.close()


def test_the_task_processes_of_a_killed_mlstudio_run_go_away(studio, tmp_path):
    """kill -9 of the engine alone (not its process group): its task process does not
    outlive it and run on unobserved."""
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def slow() -> int:
            mark("slow", str(os.getpid()))
            block(60)
            mark("slow.finished")
            return 1

        @workflow
        def hangs() -> int:
            return slow()
        """,
    )
    proc = start_mlstudio("run", f"{flow}:hangs", "--json", env=studio.env())
    try:
        wait_until(lambda: lines(tmp_path, "slow"), "the task to start")
        task_pid = int(lines(tmp_path, "slow")[0])
        assert task_pid != proc.pid and pid_alive(task_pid)
        os.kill(proc.pid, signal.SIGKILL)  # the engine's pid only: its children are not told
        proc.wait(timeout=10)
        wait_until(lambda: not pid_alive(task_pid), "the orphaned task process to exit", 10.0)
        assert lines(tmp_path, "slow.finished") == []
    finally:
        kill_group(proc)  # whatever is left of the group


ORPHAN = """
import os, subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-c", {child!r}], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
)
print(child.stdout.readline().strip(), flush=True)
os.kill(os.getpid(), 9)
"""
WATCHED = """
import os, sys, time
if {no_pidfd}:
    del os.pidfd_open
from mlstudio.workflows.runtime import watch_parent
watch_parent(os.getppid(), deathsig=False)
print(os.getpid(), flush=True)
while True:
    time.sleep(0.05)
"""


@pytest.mark.parametrize("no_pidfd", [False, True], ids=["pidfd", "getppid"])
def test_without_a_death_signal_the_watch_thread_ends_an_orphan(no_pidfd):
    """The portable path (a parent that started us from another thread gets no
    PR_SET_PDEATHSIG): the watching thread sees the parent die and exits the process."""
    child = WATCHED.format(no_pidfd=no_pidfd)
    parent = subprocess.run(
        [sys.executable, "-c", ORPHAN.format(child=child)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    pid = int(parent.stdout.strip())
    wait_until(lambda: not pid_alive(pid), "the orphan to exit", 10.0)


def test_a_task_whose_workers_die_before_starting_it_fails_after_three_handoffs():
    """A task handed to a worker that dies before starting it goes to another one; an
    interpreter whose processes can never start a task fails it instead of retrying forever."""
    from mlstudio.workflows.executors.local import LocalExecutor

    executor = LocalExecutor(max_workers=1)
    dispatch = task_dispatch(7, python="/bin/false")  # every worker of its pool exits at once
    try:
        executor.submit(dispatch)
        results = wait_until(lambda: executor.poll(0.1), "the task to fail")
        [result] = results
        assert (result.task_run_id, result.status) == (7, "crashed")
        assert result.error == (
            "the worker process died (exit code 1), 3 times before the task could start"
        )
        assert executor.running == {}
    finally:
        executor.shutdown()
