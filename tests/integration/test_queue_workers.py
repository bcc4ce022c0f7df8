"""The task queue, workers and run drivers (issue 5, items 3 to 5).

The queue's rules (priority, fairness between namespaces, quotas, leases, adoption) are tested
in-process on SQLite and Postgres. The faults are tested with real processes on Postgres:
``mlstudio worker`` subprocesses run the tasks, and the run driver runs in a subprocess too
(``mlstudio worker --drive --concurrency 0``, the same driver the server starts). Tasks leave
marker files and the tests wait for them, or for a run's state, with a deadline: nothing sleeps
and hopes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from mlstudio.testing.flows import (
    kill_group,
    lines,
    pid_alive,
    start_mlstudio,
    states,
    task_dispatch,
    task_of,
    touch,
    wait_finished,
    wait_until,
    write_flow,
)
from mlstudio.workflows.executors.base import TaskDispatch, TaskResult
from mlstudio.workflows.options import RunOptions

POSTGRES = pytest.mark.parametrize("studio", ["postgres"], indirect=True)


class Procs:
    """Worker and driver subprocesses of one test (each in its own process group)."""

    def __init__(self, studio, tmp_path: Path) -> None:
        self.studio = studio
        self.logs = tmp_path / "proc-logs"
        self.logs.mkdir(exist_ok=True)
        self.procs: list[subprocess.Popen] = []

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = start_mlstudio("worker", *args, env=self.studio.env(), output=log)
        proc.log = log  # type: ignore[attr-defined]
        proc.name = name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def worker(self, name: str, pool: str = "default", concurrency: int = 1, lease: float = 2.0):
        return self.spawn(
            name, "--pool", pool, "--concurrency", str(concurrency), "--lease", str(lease)
        )

    def driver(self, name: str, stale: float = 15.0):
        return self.spawn(name, "--drive", "--concurrency", "0", "--stale", str(stale))

    def kill(self, proc: subprocess.Popen) -> None:
        """kill -9 of the process and everything it started."""
        kill_group(proc)

    def output(self, proc: subprocess.Popen) -> str:
        return (self.logs / f"{proc.name}.log").read_text(errors="replace")  # type: ignore[attr-defined]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc)
            proc.log.close()  # type: ignore[attr-defined]


@pytest.fixture
def procs(studio, tmp_path):
    p = Procs(studio, tmp_path)
    yield p
    p.close()


def wait_for_run(platform, run_id: str, deadline_s: float = 90.0) -> dict[str, Any]:
    show = platform.runs.show
    return wait_finished(lambda: show(run_id, actor="alice"), f"run {run_id} to finish", deadline_s)


def queue_rows(platform, run_id: str) -> list[Any]:
    with platform.store.read() as uow:
        return uow.queue.rows_of_run(run_id)


def waiting_of(platform, run_id: str) -> str | None:
    [row] = [r for r in platform.runs.list("alice") if r["id"] == run_id]
    return row.get("waiting")


# --- the queue's rules, in-process on both databases ------------------------------------------
def _row(trid: int, ns: str | None, priority: int = 0, pool: str = "p") -> dict[str, Any]:
    return {
        "run_id": "run_x",
        "task_run_id": trid,
        "attempt": 1,
        "pool": pool,
        "namespace": ns,
        "priority": priority,
        "dispatch": {"n": trid},
    }


def test_claims_serve_priority_first_then_round_robin_between_namespaces(platform):
    rows = [_row(i, "big") for i in range(1, 9)]  # one team floods the queue first
    rows += [_row(20 + i, "small") for i in range(1, 3)]
    rows += [_row(30, "small", priority=5), _row(40, "big", pool="other")]
    with platform.store.transaction() as uow:
        uow.queue.enqueue(rows)
    with platform.store.transaction() as uow:
        first = uow.queue.claim("p", "w1", 4, 30)
    # priority 5 first; then the team with fewer claimed tasks (ties at random); oldest first
    assert [r.task_run_id for r in first][:2] == [30, 1]
    assert sorted(r.task_run_id for r in first[2:]) == [2, 21]
    with platform.store.transaction() as uow:
        second = uow.queue.claim("p", "w2", 3, 30)
    assert sorted(r.task_run_id for r in second) == [3, 4, 22]
    with platform.store.transaction() as uow:
        rest = uow.queue.claim("p", "w3", 10, 30)
        assert uow.queue.claim("p", "w3", 10, 30) == []
        assert [r.task_run_id for r in uow.queue.claim("other", "w4", 10, 30)] == [40]
    assert [r.task_run_id for r in rest] == [5, 6, 7, 8]
    with platform.store.read() as uow:
        assert uow.queue.inflight_by_namespace() == {"big": 9, "small": 3}
        assert uow.queue.depth() == {("p", "claimed"): 11, ("other", "claimed"): 1}


def test_a_team_that_queued_later_is_not_starved_by_one_that_flooded_the_queue(platform):
    with platform.store.transaction() as uow:
        uow.queue.enqueue([_row(i, "flood") for i in range(1, 201)])
        uow.queue.enqueue([_row(1000 + i, "late") for i in range(1, 11)])
    served = []
    for _ in range(20):  # one slot; every task finishes at once, so every load is 0
        with platform.store.transaction() as uow:
            [row] = uow.queue.claim("p", "w", 1, 30)
            uow.queue.complete("w", {row.id: {"status": "ok"}})
        served.append(row.namespace)
    assert 3 <= served.count("late") <= 17, served  # ~half each (p of failing < 1e-3)


def set_quota(platform, ns: str, **quotas: int | None) -> None:
    """Create namespace ``ns`` if needed and store its quotas (as an admin does)."""
    if not any(n["name"] == ns for n in platform.modules.list_namespaces()):
        platform.modules.create_namespace("alice", ns)
    platform.modules.set_namespace_quota("alice", ns, **quotas)


def test_a_namespace_task_quota_caps_what_workers_claim(platform):
    with platform.store.transaction() as uow:
        uow.queue.enqueue([_row(i, "capped") for i in range(1, 6)] + [_row(9, "free")])
    set_quota(platform, "capped", max_running_tasks=2)
    set_quota(platform, "free", max_running_runs=0)  # a run quota does not cap tasks
    with platform.store.transaction() as uow:
        got = uow.queue.claim("p", "w1", 10, 30)
    assert sorted(r.task_run_id for r in got) == [1, 2, 9]
    with platform.store.transaction() as uow:
        assert uow.queue.claim("p", "w2", 10, 30) == []
        done = next(r for r in got if r.namespace == "capped")
        uow.queue.complete("w1", {done.id: {"status": "ok"}})
    with platform.store.transaction() as uow:
        assert [r.task_run_id for r in uow.queue.claim("p", "w2", 10, 30)] == [3]
    assert platform.modules.namespace_quota("capped")["running_tasks"] == 2
    set_quota(platform, "capped", max_running_tasks=None)  # cleared: the next claim takes all
    with platform.store.transaction() as uow:
        assert [r.task_run_id for r in uow.queue.claim("p", "w2", 10, 30)] == [4, 5]


def test_a_task_quota_change_reaches_a_running_worker_at_its_next_claim(platform):
    from mlstudio.scheduling.worker import Worker, WorkerConfig

    rows = [{**_row(t, "team"), "dispatch": task_dispatch(t).to_dict()} for t in range(1, 7)]
    with platform.store.transaction() as uow:
        uow.queue.enqueue(rows)
    set_quota(platform, "team", max_running_tasks=1)
    local = FakeLocal()
    worker = Worker(
        platform.store,
        platform.settings,
        platform.envs,
        WorkerConfig(pool="p", concurrency=4, poll_s=0.01),
        local,
    )
    worker.start()
    worker.step()
    worker.step()
    assert [d.task_run_id for d in local.running] == [1]  # 3 slots free, held back by the quota
    set_quota(platform, "team", max_running_tasks=3)  # no restart: read at every claim
    worker.step()
    assert [d.task_run_id for d in local.running] == [1, 2, 3]
    set_quota(platform, "team", max_running_tasks=0)
    local.finish.set()  # all three finish; with quota 0 nothing more is claimed
    wait_until(lambda: worker.step() or worker.stats["completed"] == 3, "three to finish")
    worker.step()
    worker.step()
    assert worker.stats["claimed"] == 3 and local.running == []
    set_quota(platform, "team", max_running_tasks=None)
    wait_until(lambda: worker.step() or worker.stats["completed"] == 6, "the rest to run")


def test_the_executor_reports_results_lost_leases_and_cancels(platform):
    from mlstudio.workflows.executors.queue import QueueExecutor

    ex = QueueExecutor(platform.store, pool="p", namespace="team", priority=3, expiry_check_s=0)
    for trid in (1, 2, 3):
        ex.submit(task_dispatch(trid))
    assert ex.poll(0.01) == []  # enqueued in one batch; nothing has run yet
    with platform.store.transaction() as uow:
        claimed = {r.task_run_id: r for r in uow.queue.claim("p", "w1", 2, 0.05)}
    assert set(claimed) == {1, 2} and claimed[1].priority == 3
    with platform.store.transaction() as uow:
        uow.queue.complete("w1", {claimed[1].id: {"status": "ok", "output": {"inline": 7}}})
    time.sleep(0.06)  # the lease of task 2 (50 ms) runs out with nobody renewing it
    results = {r.task_run_id: r for r in ex.poll(2.0)}
    results.update({r.task_run_id: r for r in ex.poll(0.2)})
    assert results[1].status == "ok" and results[1].output == {"inline": 7}
    assert results[2].status == "lost"
    assert results[2].error == "worker w1 lost its lease (killed?)"
    with platform.store.transaction() as uow:  # a result after the lease is lost is refused
        assert uow.queue.complete("w1", {claimed[2].id: {"status": "ok"}}) == set()
    [cancelled] = ex.cancel({3})
    assert (cancelled.task_run_id, cancelled.status) == (3, "cancelled")
    assert [r.state for r in queue_rows(platform, "run_x")] == ["done", "lost", "cancelled"]
    with platform.store.transaction() as uow:  # settled rows are purged after a while
        assert uow.queue.purge(timedelta(days=1)) == 0
        assert uow.queue.purge(timedelta(0)) == 2
    assert [r.state for r in queue_rows(platform, "run_x")] == ["lost"]  # counted by metrics


def test_a_resumed_engine_adopts_attempts_still_going_or_done_and_supersedes_the_rest(platform):
    from mlstudio.workflows.executors.queue import QueueExecutor

    first = QueueExecutor(platform.store, pool="p")
    for trid in (1, 2, 3, 4):
        first.submit(task_dispatch(trid))
    first.poll(0.01)
    with platform.store.transaction() as uow:
        rows = {r.task_run_id: r for r in uow.queue.claim("p", "w1", 3, 30)}
        uow.queue.complete("w1", {rows[1].id: {"status": "ok", "output": {"inline": 1}}})
        uow.queue.complete("w1", {rows[2].id: {"status": "error", "error": "boom"}})
    # the engine died; the next one re-dispatches all four as attempt 2
    second = QueueExecutor(platform.store, pool="p")
    for trid in (1, 2, 3, 4):
        second.submit(task_dispatch(trid, attempt=2))
    results = second.poll(0.2)
    # task 1's good result answers attempt 2 at once; 3 (held) and 4 (queued) are adopted;
    # task 2 failed unseen: it runs again
    assert [(r.task_run_id, r.attempt, r.status) for r in results] == [(1, 2, "ok")]
    with platform.store.transaction() as uow:
        uow.queue.complete("w1", {rows[3].id: {"status": "ok"}})
    results = second.poll(1.0)
    assert [(r.task_run_id, r.attempt, r.status) for r in results] == [(3, 2, "ok")]
    by = [(r.task_run_id, r.attempt, r.state) for r in queue_rows(platform, "run_x")]
    assert by == [
        (1, 1, "done"),
        (2, 1, "done"),
        (3, 1, "done"),
        (4, 1, "queued"),
        (2, 2, "queued"),
    ]


def test_drivers_take_runs_by_priority_within_quotas_and_never_the_same_one(
    platform, studio, tmp_path
):
    from mlstudio.scheduling.driver import DriverConfig, RunDriver

    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def one() -> int:
            return 1

        @workflow
        def wf() -> int:
            return one()
        """,
    )
    made = []
    for ns, priority in [("a", 0), ("a", 0), ("a", 0), ("b", 0), ("b", 9)]:
        run = platform.runs.submit(
            "alice", f"{flow}:wf", {}, RunOptions(pool="gpu", priority=priority)
        )
        with platform.store.transaction() as uow:
            uow.runs.update_run(run.id, namespace=ns)
        made.append(run.id)
    local = platform.runs.submit("alice", f"{flow}:wf", {})  # an in-process run: not theirs
    assert platform.runs.get(made[0]).executor == "queue"
    assert platform.runs.get(made[0]).plan["queue"] == {"pool": "gpu", "preemptible": False}
    set_quota(platform, "a", max_running_runs=1)
    set_quota(platform, "b", max_running_tasks=1)  # a task quota does not cap runs
    assert waiting_of(platform, made[0]) == "behind 1 queued run(s) of higher priority"
    assert waiting_of(platform, made[4]) == "waiting for a worker in pool gpu"
    d1 = RunDriver(platform.store, platform.runs, DriverConfig())
    d2 = RunDriver(platform.store, platform.runs, DriverConfig())
    d2.engine_id = "elsewhere:1"  # as if on another host
    got1, got2 = d1.claim(2), d2.claim(5)
    # priority 9 first; then fair: b has one going, a none -> a; then a is at its quota
    assert got1 == [made[4], made[0]]
    assert got2 == [made[3]]
    assert set(got1).isdisjoint(got2)
    assert d1.claim(5) == [] and d2.claim(5) == []
    assert waiting_of(platform, made[1]) == "namespace quota 1/1"
    assert waiting_of(platform, local.id) is None
    assert platform.runs.get(local.id).engine_id is None
    # raised while both drivers are up: the next pass takes one more run of a, no more
    set_quota(platform, "a", max_running_runs=2)
    assert waiting_of(platform, made[1]) == "behind 1 queued run(s) of higher priority"
    assert d2.claim(5) == [made[1]] and d1.claim(5) == []
    assert waiting_of(platform, made[2]) == "namespace quota 2/2"
    assert platform.modules.namespace_quota("a")["running_runs"] == 2
    set_quota(platform, "a", max_running_runs=None)  # cleared: unlimited
    assert d1.claim(5) == [made[2]]


def test_a_driver_renews_the_runs_it_drives_even_while_their_engines_are_held_up(platform):
    """The driver beats for its runs from a thread of its own: an engine whose loop is slow to
    come round (a starved machine) does not lose its run to another driver."""
    from mlstudio.scheduling.driver import DriverConfig, RunDriver

    q = ("queued", None, 0, "queue", "api", False)
    mine, theirs = _insert_runs(platform, [q, q])
    d1 = RunDriver(platform.store, platform.runs, DriverConfig())
    d2 = RunDriver(platform.store, platform.runs, DriverConfig())
    d2.engine_id = "elsewhere:1"
    assert d1.claim(1) == [mine] and d2.claim(1) == [theirs]
    claimed = {r: platform.runs.get(r).heartbeat_at for r in (mine, theirs)}
    # both in this driver's book, no engine beating for either (as if stuck before its loop)
    d1.active[mine] = d1.active[theirs] = threading.Thread(target=lambda: None)
    stop = threading.Event()
    beats = threading.Thread(target=d1._beat_loop, args=(stop,), daemon=True)
    beats.start()
    try:
        wait_until(
            lambda: platform.runs.get(mine).heartbeat_at > claimed[mine], "a renewed heartbeat", 20
        )
        # a run another engine holds is never renewed by this one
        assert platform.runs.get(theirs).heartbeat_at == claimed[theirs]
        assert platform.runs.get(theirs).engine_id == "elsewhere:1"
    finally:
        stop.set()
        beats.join(timeout=10)
    assert not beats.is_alive()


def _insert_runs(platform, specs: list[tuple[str, str | None, int, str, str, bool]]) -> list[str]:
    """Runs straight into the table: (state, namespace, priority, executor, trigger, taken)."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from mlstudio.store.metadata.tables import runs

    now = datetime.now(UTC)
    rows = [
        {
            "id": f"run_sql{i:08d}",
            "workflow": "x/m/wf",
            "namespace": ns,
            "state": state,
            "params": {},
            "plan": {},
            "lock": {},
            "domain": "experimentation",
            "trigger": trigger,
            "executor": executor,
            "no_cache": False,
            "fail_fast": False,
            "created_by": "alice",
            "created_at": now + timedelta(seconds=i),
            "engine_id": "elsewhere:1" if taken else None,
            "heartbeat_at": now if taken else None,
            "priority": priority,
        }
        for i, (state, ns, priority, executor, trigger, taken) in enumerate(specs)
    ]
    with platform.store.transaction() as uow:
        uow.conn.execute(insert(runs), rows)
    return [r["id"] for r in rows]


def test_waiting_reasons_are_counted_in_sql_without_loading_every_active_run(platform, monkeypatch):
    from mlstudio.store.metadata.repositories.queue import QueueRepository

    q = ("queued", "x", 0, "queue", "api", False)
    ids = _insert_runs(
        platform,
        [q] * 30
        + [("queued", "y", 5, "queue", "api", False)] * 5
        + [("queued", None, 7, "local", "cli", False)] * 3  # in-process: no driver takes them
        + [("queued", "z", 3, "local", "schedule", False)] * 2  # a service's: drivers take them
        + [("running", "x", 0, "queue", "api", False)] * 4
        + [("queued", "x", 0, "queue", "api", True)]  # taken by a driver: counts as going
        + [("succeeded", "y", 9, "queue", "api", False)] * 10,
    )
    queued_x, queued_y, in_process, service = ids[:30], ids[30:35], ids[35:38], ids[38:40]
    running_x, taken_x = ids[40:44], ids[44]
    set_quota(platform, "x", max_running_runs=5)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("runs list loaded every active run")

    monkeypatch.setattr(QueueRepository, "drivable_runs", refuse)
    listed = {r["id"]: r.get("waiting") for r in platform.runs.list("alice", limit=1000)}
    assert {listed[i] for i in [*queued_x, taken_x]} == {"namespace quota 5/5"}
    assert {listed[i] for i in queued_y} == {"waiting for a worker in pool default"}
    assert {listed[i] for i in in_process} == {None}
    assert {listed[i] for i in service} == {"behind 5 queued run(s) of higher priority"}
    assert {listed[i] for i in running_x} == {"waiting for a worker in pool default"}
    assert all(listed[i] is None for i in ids[45:])
    set_quota(platform, "x", max_running_runs=None)
    page = platform.runs.list("alice", limit=3, state="queued")  # newest: x (taken), z, z
    assert [r.get("waiting") for r in page] == [
        "behind 7 queued run(s) of higher priority",
        "behind 5 queued run(s) of higher priority",
        "behind 5 queued run(s) of higher priority",
    ]


def test_a_driver_pass_reads_each_namespaces_first_queued_runs_not_the_whole_queue(platform):
    from mlstudio.scheduling.driver import DriverConfig, RunDriver

    q = ("queued", "deep", 0, "queue", "api", False)
    ids = _insert_runs(
        platform,
        [q] * 200  # a flooded namespace
        + [("queued", "deep", 4, "queue", "api", False)]  # its one urgent run, queued last
        + [("queued", "small", 0, "queue", "api", False)] * 2
        + [("running", "deep", 0, "queue", "api", True)] * 3,  # under way elsewhere
    )
    urgent, small, under_way = ids[200], ids[201:203], ids[203:]
    with platform.store.read() as uow:
        window = uow.queue.drivable_runs(queued_per_namespace=2)
        everything = uow.queue.drivable_runs()
    assert len(everything) == 206
    # every run under way, and each namespace's first two queued by priority then age
    assert {r.id for r in window} == {*under_way, urgent, ids[0], *small}
    driver = RunDriver(platform.store, platform.runs, DriverConfig())
    # the urgent run first, then fairness: small has none going, deep has three
    assert driver.claim(3) == [urgent, small[0], small[1]]
    assert driver.claim(1) == [ids[0]]


class FakeLocal:
    """Stands in for the worker's LocalExecutor: tasks finish when told to."""

    def __init__(self) -> None:
        self.running: list[TaskDispatch] = []
        self.finish = threading.Event()  # tasks finish when this is set
        self.cancelled: set[int] = set()

    def start(self) -> None: ...
    def submit(self, d: TaskDispatch) -> None:
        self.running.append(d)

    def poll(self, timeout: float) -> list[TaskResult]:
        if not self.finish.is_set():
            return []
        done, self.running = self.running, []
        return [TaskResult(d.task_run_id, d.attempt, "ok", output={"inline": 1}) for d in done]

    def cancel(self, ids: set[int]) -> list[TaskResult]:
        self.cancelled.update(ids)
        self.running = [d for d in self.running if d.task_run_id not in ids]
        return []

    def shutdown(self) -> None: ...


def test_a_full_worker_gives_a_preemptible_task_back_for_higher_priority_work(platform):
    from mlstudio.scheduling.worker import Worker, WorkerConfig

    low = {**_row(1, "batch"), "dispatch": {**task_dispatch(1).to_dict(), "_preemptible": True}}
    with platform.store.transaction() as uow:
        uow.queue.enqueue([low])
    local = FakeLocal()
    config = WorkerConfig(pool="p", concurrency=1, poll_s=0.01, check_s=0)
    worker = Worker(platform.store, platform.settings, platform.envs, config, local)
    worker.start()
    worker.step()
    assert [d.task_run_id for d in local.running] == [1]
    urgent = {**_row(2, "oncall", priority=10), "dispatch": task_dispatch(2).to_dict()}
    with platform.store.transaction() as uow:
        uow.queue.enqueue([urgent])
    worker.step()  # full: the preemptible task is killed and its row goes back to the queue
    assert local.cancelled == {1} and worker.stats["preempted"] == 1
    worker.step()
    assert [d.task_run_id for d in local.running] == [2]
    local.finish.set()
    wait_until(lambda: worker.step() or worker.stats["completed"] == 2, "both to finish")
    worker.step()
    rows = queue_rows(platform, "run_x")
    assert [(r.task_run_id, r.attempt, r.state) for r in rows] == [(1, 1, "done"), (2, 1, "done")]


def test_a_worker_rides_out_a_database_outage(platform, monkeypatch):
    """The retry loop: failing database calls back off, results are kept, work carries on."""
    from mlstudio.scheduling.worker import Worker, WorkerConfig

    rows = [{**_row(t, None), "dispatch": task_dispatch(t).to_dict()} for t in (1, 2)]
    with platform.store.transaction() as uow:
        uow.queue.enqueue([*rows, _row(3, None)])  # 3: a dispatch the worker cannot read
    local = FakeLocal()
    worker = Worker(
        platform.store,
        platform.settings,
        platform.envs,
        WorkerConfig(pool="p", concurrency=1, poll_s=0.01),
        local,
    )
    worker.start()
    real = platform.store.transaction
    down = threading.Event()

    def flaky():
        if down.is_set():
            raise sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real()

    worker.step()  # claims task 1 and runs it
    assert worker.stats["claimed"] == 1
    down.set()
    monkeypatch.setattr(platform.store, "transaction", flaky)
    local.finish.set()
    for _ in range(5):
        worker.step()  # the result cannot be written: kept; no claims meanwhile
    assert list(worker.results) and worker.stats["db_errors"] >= 1
    assert worker.backoff.failures >= 1 and not worker.backoff.ok
    down.clear()
    wait_until(lambda: worker.step() or not worker.backoff.failures, "the worker to reconnect")
    wait_until(lambda: worker.step() or worker.stats["completed"] == 2, "task 2 to run")
    wait_until(lambda: worker.step() or worker.stats["failed"] == 1, "task 3 to fail")
    worker.step()
    rows = queue_rows(platform, "run_x")
    assert [r.state for r in rows] == ["done", "done", "done"]
    assert "could not start the task: TypeError" in rows[2].result["error"]
    assert worker.results == {}


# --- real processes on Postgres ---------------------------------------------------------------
@POSTGRES
def test_a_submitted_run_is_driven_and_run_by_worker_processes_on_a_warm_pool(
    studio, platform, procs, tmp_path
):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def items(n: int) -> list[int]:
            return list(range(n))

        @task
        def work(x: int) -> int:
            mark("work", str(os.getpid()))
            print("working on", x)
            return x * x

        @task
        def total(xs: list[int]) -> int:
            return sum(xs)

        @workflow
        def fan(n: int = 4) -> int:
            return total(work.map(x=items(n)))
        """,
    )
    run = platform.runs.submit("alice", f"{flow}:fan", {"n": "4"}, RunOptions(pool="team-a"))
    assert run.state == "queued" and run.executor == "queue"
    assert waiting_of(platform, run.id) == "waiting for a worker in pool team-a"
    w1 = procs.worker("w1", pool="team-a", concurrency=1)
    w2 = procs.worker("w2", pool="team-a", concurrency=1)
    procs.worker("elsewhere", pool="other", concurrency=1)
    wait_until(
        lambda: waiting_of(platform, run.id) != "waiting for a worker in pool team-a",
        "the workers to register",
    )
    assert waiting_of(platform, run.id).startswith("waiting for a driver")
    procs.driver("d1")
    shown = wait_for_run(platform, run.id)
    assert shown["state"] == "succeeded", shown
    assert shown["output_value"] == 0 + 1 + 4 + 9
    rows = queue_rows(platform, run.id)
    assert len(rows) == 6 and {r.state for r in rows} == {"done"}
    workers = {r.worker_id for r in rows}
    assert workers <= {f"{h}:{w.pid}:team-a" for w in (w1, w2) for h in [os.uname().nodename]}
    # what a task printed comes back with its result (workers may not share the engine's disk)
    [entry] = platform.runs.logs(run.id, actor="alice", task="work[2]")
    assert entry["text"] == "working on 2\n"
    with platform.store.read() as uow:
        [task_run] = uow.runs.task_runs_of(run.id, ["work[2]"])
    assert task_run.logs[0]["text"] == "working on 2\n"
    pids = set(lines(tmp_path, "work"))
    assert str(os.getpid()) not in pids and len(lines(tmp_path, "work")) == 4
    # a second run reuses the same warm processes (no new ones were started)
    again = platform.runs.submit("alice", f"{flow}:fan", {"n": "5"}, RunOptions(pool="team-a"))
    assert wait_for_run(platform, again.id)["state"] == "succeeded"
    assert set(lines(tmp_path, "work")) == pids
    with platform.store.read() as uow:
        live = {w.id: w for w in uow.queue.live_workers(30)}
    assert {w.pool for w in live.values()} == {"team-a", "other"}


@POSTGRES
def test_a_worker_killed_mid_task_loses_nothing(studio, platform, procs, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import current, task, workflow

        @task
        def before() -> int:
            mark("before")
            return 1

        @task  # no retries: a vanished worker does not use up the task's retry budget
        def slow(x: int) -> int:
            mark("slow", f"{current().attempt} {os.getpid()}")
            if current().attempt == 1:
                block()  # until its worker is killed
            return x + 1

        @task
        def after(x: int) -> int:
            mark("after")
            return x * 10

        @workflow
        def fragile() -> int:
            return after(slow(before()))
        """,
    )
    run = platform.runs.submit("alice", f"{flow}:fragile", {}, RunOptions(pool="p"))
    doomed = procs.worker("doomed", pool="p", lease=2.0)
    procs.driver("d1")
    wait_until(lambda: lines(tmp_path, "slow"), "the first attempt to start")
    spare = procs.worker("spare", pool="p", lease=2.0)
    task_pid = int(lines(tmp_path, "slow")[0].split()[1])
    procs.kill(doomed)  # kill -9 of the worker and its task processes
    wait_until(lambda: not pid_alive(task_pid), "the task process to be gone")
    shown = wait_for_run(platform, run.id)
    assert shown["state"] == "succeeded" and shown["output_value"] == 20
    slow = task_of(shown, "slow")
    assert slow["attempt"] == 2 and slow["error"] is None
    assert [line.split()[0] for line in lines(tmp_path, "slow")] == ["1", "2"]
    assert len(lines(tmp_path, "before")) == 1 and len(lines(tmp_path, "after")) == 1
    rows = queue_rows(platform, run.id)
    lost = [r for r in rows if r.state == "lost"]
    assert len(lost) == 1 and lost[0].worker_id.endswith(f":{doomed.pid}:p")
    [retry] = [r for r in rows if r.attempt == 2]
    assert retry.state == "done" and retry.worker_id.endswith(f":{spare.pid}:p")


@POSTGRES
def test_the_task_of_a_worker_killed_alone_dies_with_it_and_never_runs_beside_its_retry(
    studio, platform, procs, tmp_path
):
    """kill -9 of the worker's pid only (not its process group): its task process notices and
    exits, so the retry on another worker never runs alongside the first copy."""
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import current, task, workflow

        @task
        def slow() -> int:
            attempt = current().attempt
            mark("slow", f"{attempt} {os.getpid()}")
            if attempt == 1:
                wait_for("slow.retry")  # an orphan would wake when its retry starts...
            mark("slow.finished", str(attempt))  # ...and finish beside it
            return attempt

        @workflow
        def orphan() -> int:
            return slow()
        """,
    )
    run = platform.runs.submit("alice", f"{flow}:orphan", {}, RunOptions(pool="p"))
    doomed = procs.worker("doomed", pool="p", lease=2.0)
    procs.driver("d1")
    wait_until(lambda: lines(tmp_path, "slow"), "the first attempt to start")
    task_pid = int(lines(tmp_path, "slow")[0].split()[1])
    assert task_pid != doomed.pid and pid_alive(task_pid)
    os.kill(doomed.pid, signal.SIGKILL)  # the worker alone: nobody signals its task process
    doomed.wait(timeout=10)
    wait_until(lambda: not pid_alive(task_pid), "the orphaned task process to exit", 10.0)
    spare = procs.worker("spare", pool="p", lease=2.0)
    wait_until(lambda: len(lines(tmp_path, "slow")) == 2, "the retry to start")
    touch(tmp_path, "slow.retry")
    shown = wait_for_run(platform, run.id)
    assert shown["state"] == "succeeded" and shown["output_value"] == 2
    assert [line.split()[0] for line in lines(tmp_path, "slow")] == ["1", "2"]
    assert lines(tmp_path, "slow.finished") == ["2"]  # the first copy never finished
    rows = queue_rows(platform, run.id)
    assert [(r.attempt, r.state) for r in rows] == [(1, "lost"), (2, "done")]
    assert rows[1].worker_id.endswith(f":{spare.pid}:p")


@POSTGRES
def test_a_driver_killed_mid_run_is_taken_over_and_nothing_is_redone(
    studio, platform, procs, tmp_path
):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def first(x: int) -> int:
            mark("first")
            return x + 1

        @task
        def second(x: int) -> int:
            mark("second", str(os.getpid()))
            wait_for("go")  # held until the first driver is dead
            return x * 10

        @task
        def third(x: int) -> int:
            mark("third")
            return x + 5

        @workflow
        def durable(x: int = 1) -> int:
            return third(second(first(x)))
        """,
    )
    procs.worker("w", pool="p", lease=3.0)
    d1 = procs.driver("d1")
    run = platform.runs.submit("alice", f"{flow}:durable", {}, RunOptions(pool="p"))
    wait_until(lambda: lines(tmp_path, "second"), "the second task to start")
    assert platform.runs.get(run.id).engine_id.endswith(f":{d1.pid}")
    procs.kill(d1)
    d2 = procs.driver("d2")
    wait_until(
        lambda: (platform.runs.get(run.id).engine_id or "").endswith(f":{d2.pid}"),
        "the second driver to take the run over",
    )
    touch(tmp_path, "go")
    shown = wait_for_run(platform, run.id)
    assert shown["state"] == "succeeded" and shown["output_value"] == (1 + 1) * 10 + 5
    assert states(shown) == {"first": "succeeded", "second": "succeeded", "third": "succeeded"}
    # the finished task was not redone, and the one in flight was adopted, not run again
    assert len(lines(tmp_path, "first")) == 1
    assert len(lines(tmp_path, "second")) == 1
    assert len(lines(tmp_path, "third")) == 1
    # the new engine took over the attempt already running: not redone, not recounted
    assert task_of(shown, "second")["attempt"] == 1
    assert [(r.attempt, r.state) for r in queue_rows(platform, run.id)] == [
        (1, "done"),
        (1, "done"),
        (1, "done"),
    ]


@POSTGRES
def test_two_drivers_at_once_never_drive_one_run(studio, platform, procs, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def step(tag: str, i: int) -> int:
            mark(f"{tag}-{i}")
            return i

        @task
        def join(xs: list[int]) -> int:
            return sum(xs)

        @workflow
        def many(tag: str = "x") -> int:
            return join([step(tag, i) for i in range(3)])
        """,
    )
    procs.worker("w1", pool="p", concurrency=2)
    drivers = [procs.driver("d1"), procs.driver("d2")]
    tags = [f"r{i}" for i in range(8)]
    runs = [
        platform.runs.submit("alice", f"{flow}:many", {"tag": t}, RunOptions(pool="p"))
        for t in tags
    ]
    for run in runs:
        assert wait_for_run(platform, run.id)["state"] == "succeeded"
    for tag in tags:
        for i in range(3):
            assert lines(tmp_path, f"{tag}-{i}") == ["x"], f"{tag}-{i} ran more than once"
    for run in runs:  # one engine per run: every task was dispatched exactly once
        shown = platform.runs.show(run.id, actor="alice")
        computed = [t for t in shown["tasks"] if not t["cache_hit"]]  # (later joins are hits)
        rows = queue_rows(platform, run.id)
        assert [(r.attempt, r.state) for r in rows] == [(1, "done")] * len(computed), "".join(
            procs.output(d) for d in drivers
        )
    logs = "".join(procs.output(d) for d in drivers)
    for run in runs:
        assert logs.count(f"driving {run.id} ") == 1, logs


@POSTGRES
def test_cancelling_a_run_stops_its_task_on_the_worker(studio, platform, procs, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def long_job() -> int:
            mark("long", str(os.getpid()))
            block()
            mark("long.finished")
            return 1

        @task
        def quick() -> int:
            mark("quick")
            return 2

        @workflow
        def cancellable() -> int:
            return long_job()

        @workflow
        def fine() -> int:
            return quick()
        """,
    )
    worker = procs.worker("w", pool="p", lease=3.0)
    procs.driver("d1")
    run = platform.runs.submit("alice", f"{flow}:cancellable", {}, RunOptions(pool="p"))
    wait_until(lambda: lines(tmp_path, "long"), "the task to start")
    pid = int(lines(tmp_path, "long")[0])
    cancelled = platform.runs.cancel("alice", run.id)
    assert cancelled.cancel_requested and cancelled.state in ("cancelling", "cancelled")
    shown = wait_for_run(platform, run.id)
    assert shown["state"] == "cancelled" and states(shown) == {"long_job": "cancelled"}
    wait_until(lambda: not pid_alive(pid), "the worker to kill the task")
    assert lines(tmp_path, "long.finished") == []
    assert [r.state for r in queue_rows(platform, run.id)] == ["cancelled"]
    # the worker carries on with the next run
    assert worker.poll() is None
    nxt = platform.runs.submit("alice", f"{flow}:fine", {}, RunOptions(pool="p"))
    assert wait_for_run(platform, nxt.id)["state"] == "succeeded"


@POSTGRES
def test_workers_and_drivers_reconnect_after_the_database_drops_them(
    studio, platform, procs, tmp_path
):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def held() -> int:
            mark("held", str(os.getpid()))
            wait_for("go")
            return 7

        @task
        def later(x: int) -> int:
            mark("later")
            return x + 1

        @workflow
        def through() -> int:
            return later(held())
        """,
    )
    worker = procs.worker("w", pool="p", lease=15.0)
    driver = procs.driver("d1")
    run = platform.runs.submit("alice", f"{flow}:through", {}, RunOptions(pool="p"))
    wait_until(lambda: lines(tmp_path, "held"), "the task to start")
    url = make_url(studio.database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    platform.store.engine.dispose()
    try:
        with admin.connect() as conn:  # the database goes away: no connections for a while
            conn.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": url.database},
            )
        touch(tmp_path, "go")  # the task finishes while the database is away
        time.sleep(2.0)  # (an outage of a fixed length is the point here)
        assert worker.poll() is None and driver.poll() is None
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    shown = wait_for_run(platform, run.id)
    assert shown["state"] == "succeeded" and shown["output_value"] == 8
    assert len(lines(tmp_path, "held")) == 1 and len(lines(tmp_path, "later")) == 1
    assert "database unavailable" in procs.output(worker)
    assert "database back" in procs.output(worker)


@POSTGRES
def test_run_with_pool_drives_in_the_cli_and_sigterm_stops_a_worker_cleanly(
    studio, procs, tmp_path
):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def where() -> int:
            return os.getpid()

        @workflow
        def wf() -> int:
            return where()
        """,
    )
    worker = procs.worker("w", pool="cli")
    shown = studio.ok("run", f"{flow}:wf", "--pool", "cli", "--priority", "3")
    assert shown["state"] == "succeeded" and shown["output_value"] != os.getpid()
    assert shown["executor"] == "queue" and shown["priority"] == 3
    bad = studio.fails("run", f"{flow}:wf", "--pool", "no good")
    assert "invalid pool name" in bad.stderr
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert "worker stopped" in procs.output(worker)
    platform = studio.platform()
    try:
        with platform.store.read() as uow:
            assert uow.queue.live_workers(60, "cli") == []
    finally:
        platform.close()


@POSTGRES
def test_runs_a_service_started_go_to_the_workers_and_in_process_runs_are_left_alone(
    studio, platform, procs, tmp_path
):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def where() -> int:
            return os.getpid()

        @workflow
        def wf() -> int:
            return where()
        """,
    )
    scheduled = platform.runs.submit("alice", f"{flow}:wf", {}, RunOptions(trigger="schedule"))
    mine = platform.runs.submit("alice", f"{flow}:wf", {})  # `mlstudio run` drives this one
    assert (scheduled.executor, mine.executor) == ("local", "local")
    assert waiting_of(platform, scheduled.id) == "waiting for a worker in pool default"
    assert waiting_of(platform, mine.id) is None
    procs.worker("w")
    procs.driver("d")
    shown = wait_for_run(platform, scheduled.id)
    assert shown["state"] == "succeeded" and shown["executor"] == "queue"
    assert shown["output_value"] != os.getpid()
    untouched = platform.runs.get(mine.id)
    assert (untouched.state, untouched.engine_id) == ("queued", None)
    assert platform.runs.execute(mine.id).state == "succeeded"
