"""The queue's fast path: engines woken by the workers' notifications (with sweeps that catch
what a notification missed), and workers that claim ahead and write results in batches while
their tasks are short. Functional checks only: nothing here measures time.
"""

from __future__ import annotations

from typing import Any

import pytest

from mlstudio.testing.flows import task_dispatch
from mlstudio.workflows.executors.base import TaskDispatch, TaskResult

POSTGRES = pytest.mark.parametrize("studio", ["postgres"], indirect=True)
NEVER = 3600.0  # a period that does not come round during a test


def _claim(platform: Any, count: int) -> dict[int, Any]:
    with platform.store.transaction() as uow:
        return {r.task_run_id: r for r in uow.queue.claim("p", "w1", count, 30)}


@POSTGRES
def test_the_engine_side_is_woken_by_results_and_sweeps_for_what_no_one_announced(platform):
    from mlstudio.workflows.executors.queue import QueueExecutor

    # it never polls on a timer and sweeps only when told to: what it sees, it was woken for
    ex = QueueExecutor(platform.store, pool="p", poll_s=NEVER, sweep_s=NEVER, expiry_check_s=NEVER)
    try:
        for trid in (1, 2, 3, 4):
            ex.submit(task_dispatch(trid))
        assert ex.poll(0.01) == []  # enqueued, listening, one full read
        rows = _claim(platform, 4)
        with platform.store.transaction() as uow:
            uow.queue.complete("w1", {rows[1].id: {"status": "ok", "output": {"inline": 1}}})
        [result] = ex.poll(30.0)  # woken by the worker's NOTIFY, read that row only
        assert (result.task_run_id, result.status, result.output) == (1, "ok", {"inline": 1})

        # a change nobody announces (here: a cancel) waits for the next sweep
        with platform.store.transaction() as uow:
            uow.queue.cancel([rows[2].id])
        assert ex.poll(0.2) == []
        ex.sweep_s = 0.0
        [swept] = ex.poll(5.0)
        assert (swept.task_run_id, swept.status) == (2, "cancelled")

        # a result announced while the listening connection is down is found by a sweep (one
        # runs at every read while it is down, and once after it is back)
        ex.sweep_s = NEVER
        ex.waker.close()
        with platform.store.transaction() as uow:
            uow.queue.complete("w1", {rows[3].id: {"status": "ok", "output": {"inline": 3}}})
        [late] = ex.poll(30.0)
        assert (late.task_run_id, late.status) == (3, "ok")
        assert ex.poll(0.2) == []  # reconnects, listens again
        assert ex.waker.conn is not None and ex.waker.connects == 2
        with platform.store.transaction() as uow:
            uow.queue.complete("w1", {rows[4].id: {"status": "ok", "output": {"inline": 4}}})
        [woken] = ex.poll(30.0)
        assert (woken.task_run_id, woken.status) == (4, "ok")
    finally:
        ex.shutdown()
    assert ex.waker is None


@POSTGRES
def test_results_of_many_rows_are_announced_in_payloads_of_legal_size(platform):
    """A batch of results is announced per run, in chunks (a payload is at most 8000 bytes)."""
    from mlstudio.scheduling.queue import Waker
    from mlstudio.store.metadata.repositories.queue import results_channel

    rows = [
        {
            "run_id": run_id,
            "task_run_id": trid,
            "attempt": 1,
            "pool": "p",
            "dispatch": task_dispatch(trid, run_id=run_id).to_dict(),
        }
        for run_id, trids in (("run_a", range(1, 1201)), ("run_b", range(5000, 5003)))
        for trid in trids
    ]
    waker = Waker(platform.store, results_channel("run_a"), results_channel("run_b"))
    try:
        assert waker.listen(results_channel("run_a"))  # connected and listening
        with platform.store.transaction() as uow:
            uow.queue.enqueue(rows)
        claimed = _claim(platform, 2000)
        assert len(claimed) == 1203
        with platform.store.transaction() as uow:
            done = uow.queue.complete("w1", {r.id: {"status": "ok"} for r in claimed.values()})
        assert done == {r.id for r in claimed.values()}
        announced: list[int] = []
        while len(announced) < len(done):
            payloads = waker.receive(30.0)
            assert payloads, "not every result was announced"
            for payload in payloads:
                announced.extend(int(i) for i in payload.split(","))
        assert sorted(announced) == sorted(done)
    finally:
        waker.close()


class ShortTasks:
    """Stands in for the worker's LocalExecutor: every task it holds finishes at each poll,
    having run for ``took`` seconds (as its result says)."""

    def __init__(self, took: float) -> None:
        self.took = took
        self.running: list[TaskDispatch] = []
        self.submitted = 0

    def start(self) -> None: ...
    def submit(self, d: TaskDispatch) -> None:
        self.running.append(d)
        self.submitted += 1

    def poll(self, timeout: float) -> list[TaskResult]:
        done, self.running = self.running, []
        return [
            TaskResult(
                d.task_run_id, d.attempt, "ok", started_at=100.0, finished_at=100 + self.took
            )
            for d in done
        ]

    def cancel(self, ids: set[int]) -> list[TaskResult]:
        self.running = [d for d in self.running if d.task_run_id not in ids]
        return []

    def shutdown(self) -> None: ...


def test_a_worker_claims_ahead_only_while_its_tasks_are_short(platform):
    from mlstudio.scheduling.worker import Worker, WorkerConfig

    rows = [
        {
            "run_id": "run_x",
            "task_run_id": t,
            "attempt": 1,
            "pool": "p",
            "dispatch": task_dispatch(t),
        }
        for t in range(1, 61)
    ]
    for row in rows:
        row["dispatch"] = row["dispatch"].to_dict()
    with platform.store.transaction() as uow:
        uow.queue.enqueue(rows)
    local = ShortTasks(took=0.001)
    config = WorkerConfig(pool="p", concurrency=2, poll_s=0.01, prefetch=4, prefetch_s=0.05)
    worker = Worker(platform.store, platform.settings, platform.envs, config, local)
    worker.start()
    worker.step()  # nothing known about the tasks yet: one per slot
    assert local.submitted == 2 and worker.held == {} and len(worker.results) == 2
    assert worker.ahead() == 8  # 1 ms tasks: the cap (4 per slot), not the 100 that would fit
    worker.step()  # results of 2 written; 2 slots + 8 ahead claimed in the same transaction
    assert local.submitted == 12
    worker.step()
    assert local.submitted == 22
    with platform.store.read() as uow:
        states = [r.state for r in uow.queue.rows_of_run("run_x")]
    # finished here, written with the next exchange
    assert states.count("done") == 12 and states.count("claimed") == len(worker.results) == 10

    local.took = 1.0  # the tasks turn long: the moving mean passes prefetch_s, no more ahead
    before = local.submitted
    worker.step()
    assert worker.mean_s is not None and worker.mean_s >= config.prefetch_s
    assert worker.ahead() == 0
    worker.step()
    assert local.submitted - before == 10 + 2  # what was ahead before, then one per slot
    while local.running or worker.results:
        worker.step(claim=False)
    with platform.store.read() as uow:
        states = [r.state for r in uow.queue.rows_of_run("run_x")]
    assert states.count("done") == local.submitted == 34 and states.count("queued") == 26
