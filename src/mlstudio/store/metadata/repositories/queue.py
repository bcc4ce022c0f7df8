"""The task queue and its workers (tables ``task_queue`` and ``workers``), and run claims.

A row is one dispatched task attempt. Its life: ``queued`` → ``claimed`` (by one worker, under a
lease the worker renews by heartbeat) → ``done`` (the worker wrote the result). Besides:
``cancelled`` (the engine cancelled it, or a newer attempt of the same task superseded it; a
worker holding it kills the task at its next check) and ``lost`` (its lease ran out: the worker
died or lost the database; the engine is told the attempt crashed and retries per its policy).

Workers claim with ``SELECT … FOR UPDATE SKIP LOCKED`` on Postgres, so concurrent claimers never
wait for or take each other's rows; SQLite transactions begin IMMEDIATE, so claims serialize.
Leases are measured on the database's clock on Postgres (hosts' clocks may differ), on this
host's clock with SQLite (one machine).

Quotas are stored on the namespaces (``max_running_runs``, ``max_running_tasks``; None is
unlimited) and read by every claim, so a change applies at the next claim of every process.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)

from mlstudio.core.clock import utcnow
from mlstudio.store.metadata.tables import namespaces, runs
from mlstudio.store.metadata.tables._base import UtcDateTime
from mlstudio.store.metadata.tables.service import task_queue as tq
from mlstudio.store.metadata.tables.service import workers

QUEUED, CLAIMED, DONE, CANCELLED, LOST = "queued", "claimed", "done", "cancelled", "lost"
OPEN = (QUEUED, CLAIMED)
SETTLED = (DONE, CANCELLED, LOST)
RUN_ACTIVE = ("queued", "running", "cancelling")
# runs started by these are driven by the process that started them (``mlstudio run``, the
# Python API); a driver takes them over only if they target the queue (executor ``queue``)
IN_PROCESS_TRIGGERS = ("cli", "clone", "quickstart")
# Postgres NOTIFY channels: tasks were queued (workers wake), runs were queued (drivers wake)
QUEUE_CHANNEL, RUNS_CHANNEL = "mlstudio_queue", "mlstudio_runs"
# serializes claims that count against quotas (Postgres advisory lock keys)
_TASK_QUOTA_LOCK = 0x6D6C7101
_RUN_CLAIM_LOCK = 0x6D6C7102

_ROW = [
    tq.c.id,
    tq.c.run_id,
    tq.c.task_run_id,
    tq.c.attempt,
    tq.c.pool,
    tq.c.namespace,
    tq.c.priority,
    tq.c.dispatch,
]


def _drivable(executor: str = "queue") -> Any:
    """The runs drivers take (among active ones): queue runs, and runs a service (API,
    schedule) started whatever their executor, while queued or when on Ray."""
    return or_(
        runs.c.executor == executor,
        and_(
            runs.c.trigger.not_in(IN_PROCESS_TRIGGERS),
            or_(runs.c.state == "queued", runs.c.executor == "ray"),
        ),
    )


def results_channel(run_id: str) -> str:
    """The channel on which workers announce results of ``run_id`` (payload: queue row ids)."""
    return "mlstudio_results_" + "".join(c if c.isalnum() else "_" for c in run_id.lower())[:40]


# built once: statements run for every task
_NOTIFY = select(func.pg_notify(bindparam("channel"), bindparam("payload")))
_COMPLETE = (
    update(tq)
    .where(
        tq.c.id == bindparam("row_id"),
        tq.c.state == CLAIMED,
        tq.c.worker_id == bindparam("worker"),
    )
    .values(state=DONE, result=bindparam("result"), finished_at=bindparam("now"), lease_until=None)
    .returning(tq.c.run_id)
)


def _chunks(items: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class QueueRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"

    # --- clock --------------------------------------------------------------------------------
    def _now(self) -> Any:
        """'Now' as a SQL expression: the database's clock on Postgres, ours on SQLite."""
        return func.now() if self.pg else literal(utcnow(), UtcDateTime())

    def _later(self, seconds: float) -> Any:
        if self.pg:
            return func.now() + literal(timedelta(seconds=seconds))
        return literal(utcnow() + timedelta(seconds=seconds), UtcDateTime())

    def now(self) -> datetime:
        if self.pg:
            return self.conn.execute(select(func.now())).scalar_one()
        return utcnow()

    def _lock(self, key: int) -> None:
        if self.pg:
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    # --- the engine's side --------------------------------------------------------------------
    def enqueue(self, rows: list[dict[str, Any]], adopt: bool = True) -> dict[tuple[int, int], int]:
        """Queue task attempts (run_id, task_run_id, attempt, pool, namespace, priority,
        dispatch); returns (task_run_id, attempt) -> the queue row that will answer it.

        An engine resuming a run re-dispatches what its dead predecessor had in flight, as new
        attempts. With ``adopt``, an older attempt of the same task that is still queued, held
        by a live worker, or done with a good result answers for the new one: the work is not
        redone. Other older open attempts are superseded (cancelled; their worker kills them)."""
        if not rows:
            return {}
        now = utcnow()
        trids = [r["task_run_id"] for r in rows]
        latest: dict[int, Any] = {}
        for chunk in _chunks(trids):
            q = select(tq.c.id, tq.c.task_run_id, tq.c.attempt, tq.c.state, tq.c.result).where(
                tq.c.task_run_id.in_(list(chunk)), tq.c.state.in_((*OPEN, DONE))
            )
            for r in self.conn.execute(q):
                if r.task_run_id not in latest or r.attempt > latest[r.task_run_id].attempt:
                    latest[r.task_run_id] = r
        out: dict[tuple[int, int], int] = {}
        fresh: list[dict[str, Any]] = []
        superseded: list[int] = []
        for r in rows:
            old = latest.get(r["task_run_id"])
            if old is not None and old.attempt < r["attempt"]:
                good = old.state in OPEN or (old.result or {}).get("status") == "ok"
                if adopt and good:
                    out[(r["task_run_id"], r["attempt"])] = old.id
                    continue
                if old.state in OPEN:
                    superseded.append(old.id)
            fresh.append(r)
        for chunk in _chunks(superseded):
            self.conn.execute(
                update(tq)
                .where(tq.c.id.in_(list(chunk)), tq.c.state.in_(OPEN))
                .values(state=CANCELLED, finished_at=now, result={"superseded": True})
            )
        if not fresh:
            return out
        values = [
            {
                "run_id": r["run_id"],
                "task_run_id": r["task_run_id"],
                "attempt": r["attempt"],
                "pool": r.get("pool") or "default",
                "namespace": r.get("namespace"),
                "priority": int(r.get("priority") or 0),
                "dispatch": r["dispatch"],
                "state": QUEUED,
                "enqueued_at": now,
            }
            for r in fresh
        ]
        self.conn.execute(insert(tq), values)
        self.notify(QUEUE_CHANNEL)
        wanted = {(r["task_run_id"], r["attempt"]) for r in fresh}
        for chunk in _chunks([r["task_run_id"] for r in fresh]):
            q = select(tq.c.id, tq.c.task_run_id, tq.c.attempt).where(
                tq.c.task_run_id.in_(list(chunk)), tq.c.state == QUEUED
            )
            for r in self.conn.execute(q):
                if (r.task_run_id, r.attempt) in wanted:
                    out[(r.task_run_id, r.attempt)] = r.id
        return out

    def notify(self, channel: str, payload: str = "") -> None:
        """Wake the listeners of ``channel`` when this transaction commits (Postgres)."""
        if self.pg:
            self.conn.execute(_NOTIFY, {"channel": channel, "payload": payload})

    def settled(self, ids: Sequence[int]) -> list[Any]:
        """Rows among ``ids`` that are done, cancelled or lost."""
        out: list[Any] = []
        for chunk in _chunks(list(ids)):
            q = select(
                tq.c.id,
                tq.c.task_run_id,
                tq.c.attempt,
                tq.c.state,
                tq.c.result,
                tq.c.worker_id,
            ).where(tq.c.id.in_(list(chunk)), tq.c.state.in_(SETTLED))
            out.extend(self.conn.execute(q))
        return out

    def expire(self, ids: Sequence[int] | None = None) -> list[Any]:
        """Mark claimed rows whose lease ran out as lost (among ``ids``, or all); returns them."""
        found: list[Any] = []
        now = self._now()
        chunks = _chunks(list(ids)) if ids is not None else [None]
        for chunk in chunks:
            q = select(tq.c.id, tq.c.task_run_id, tq.c.attempt, tq.c.worker_id).where(
                tq.c.state == CLAIMED, tq.c.lease_until < now
            )
            if chunk is not None:
                q = q.where(tq.c.id.in_(list(chunk)))
            rows = list(self.conn.execute(q))
            if not rows:
                continue
            done = self.conn.execute(
                update(tq)
                .where(
                    tq.c.id.in_([r.id for r in rows]),
                    tq.c.state == CLAIMED,
                    tq.c.lease_until < now,
                )
                .values(state=LOST, finished_at=utcnow())
                .returning(tq.c.id)
            )
            kept = {r.id for r in done}
            found.extend(r for r in rows if r.id in kept)
        return found

    def cancel(self, ids: Sequence[int]) -> list[int]:
        """Cancel open rows; a worker holding one kills its task at its next check."""
        out: list[int] = []
        for chunk in _chunks(list(ids)):
            result = self.conn.execute(
                update(tq)
                .where(tq.c.id.in_(list(chunk)), tq.c.state.in_(OPEN))
                .values(state=CANCELLED, finished_at=utcnow())
                .returning(tq.c.id)
            )
            out.extend(r.id for r in result)
        return out

    def cancel_finished_runs(self) -> int:
        """Cancel open rows of runs that are over (their engine is gone; nobody wants them)."""
        over = select(runs.c.id).where(runs.c.state.not_in(RUN_ACTIVE))
        result = self.conn.execute(
            update(tq)
            .where(tq.c.state.in_(OPEN), tq.c.run_id.in_(over))
            .values(state=CANCELLED, finished_at=utcnow())
        )
        return result.rowcount or 0

    def purge(self, older_than: timedelta) -> int:
        """Delete done and cancelled rows finished longer ago than ``older_than`` (the queue
        stays small; the task runs keep the history). Lost rows stay: they are the lease-expiry
        count the metrics report."""
        cutoff = utcnow() - older_than
        result = self.conn.execute(
            delete(tq).where(tq.c.state.in_((DONE, CANCELLED)), tq.c.finished_at < cutoff)
        )
        return result.rowcount or 0

    # --- the workers' side --------------------------------------------------------------------
    def claim(self, pool: str, worker_id: str, limit: int, lease_s: float) -> list[Any]:
        """Claim up to ``limit`` queued rows of ``pool``: highest priority first; within a
        priority, each next row goes to the namespace with the fewest claimed tasks (fair
        between teams, whoever queued first), oldest row first within a namespace; namespaces
        at their task quota (``max_running_tasks``, read now) are skipped.

        One query counts what is queued and claimed; then one ``UPDATE … WHERE id IN (SELECT …
        FOR UPDATE SKIP LOCKED) RETURNING`` per namespace served takes the rows. Rows another
        worker is taking at the same moment are skipped, so a claim may return fewer. Claims
        that touch a namespace with a quota are serialized (Postgres: an advisory lock, then
        the counts again), so a quota is never exceeded."""
        if limit <= 0:
            return []
        counts = self._queue_counts(pool)
        queued = {(p, ns): n for state, p, ns, n in counts if state == QUEUED}
        if not queued:
            return []
        quotas = self.task_quotas({ns for _p, ns in queued})
        if quotas and self.pg:
            self._lock(_TASK_QUOTA_LOCK)
            counts = self._queue_counts(pool)  # what others claimed while we waited
            queued = {(p, ns): n for state, p, ns, n in counts if state == QUEUED}
        load: dict[str | None, int] = {}
        for state, _p, ns, n in counts:
            if state == CLAIMED:
                load[ns] = load.get(ns, 0) + n
        # ties (as often as not every load is 0: tasks finish quickly) are broken at random, so
        # a namespace that queued a thousand tasks first cannot starve one that queued later
        luck = {ns: random.random() for _p, ns in queued}
        taken: list[Any] = []
        remaining = limit
        for priority in sorted({p for p, _ in queued}, reverse=True):
            avail = {ns: n for (p, ns), n in queued.items() if p == priority}
            if quotas:
                for ns in avail:
                    if ns in quotas:
                        avail[ns] = min(avail[ns], max(0, quotas[ns] - load.get(ns, 0)))
            share: dict[str | None, int] = {}
            picks: list[str | None] = []  # the namespace of each row to take, in order
            while remaining > 0:
                open_ns = [ns for ns, n in avail.items() if n > 0]
                if not open_ns:
                    break
                ns = min(open_ns, key=lambda n: (load.get(n, 0), luck[n]))
                avail[ns] -= 1
                load[ns] = load.get(ns, 0) + 1
                share[ns] = share.get(ns, 0) + 1
                picks.append(ns)
                remaining -= 1
            rows = {
                ns: self._take(pool, priority, ns, n, worker_id, lease_s) for ns, n in share.items()
            }
            for ns in picks:
                if rows[ns]:
                    taken.append(rows[ns].pop(0))
            if remaining <= 0:
                break
        return taken

    def _queue_counts(self, pool: str) -> list[Any]:
        """(state, priority, namespace, count): queued rows of ``pool``, claimed rows of all."""
        return self.conn.execute(
            select(tq.c.state, tq.c.priority, tq.c.namespace, func.count())
            .where(or_(and_(tq.c.state == QUEUED, tq.c.pool == pool), tq.c.state == CLAIMED))
            .group_by(tq.c.state, tq.c.priority, tq.c.namespace)
        ).all()

    def _take(
        self,
        pool: str,
        priority: int,
        ns: str | None,
        count: int,
        worker_id: str,
        lease_s: float,
    ) -> list[Any]:
        """Claim the ``count`` oldest queued rows of one (pool, priority, namespace)."""
        pick = (
            select(tq.c.id)
            .where(
                tq.c.state == QUEUED,
                tq.c.pool == pool,
                tq.c.priority == priority,
                tq.c.namespace == ns,
            )
            .order_by(tq.c.id)
            .limit(count)
        )
        if self.pg:
            pick = pick.with_for_update(skip_locked=True)
        # a CTE is evaluated once; ``id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` may be
        # evaluated again per row and take more than n
        picked = pick.cte("picked")
        rows = self.conn.execute(
            update(tq)
            .where(tq.c.id == picked.c.id, tq.c.state == QUEUED)
            .values(
                state=CLAIMED,
                worker_id=worker_id,
                lease_until=self._later(lease_s),
                claimed_at=utcnow(),
            )
            .returning(*_ROW)
        ).all()
        return sorted(rows, key=lambda r: r.id)

    def held(self, worker_id: str, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` this worker still holds (not cancelled, lost or taken back)."""
        out: set[int] = set()
        for chunk in _chunks(list(ids)):
            q = select(tq.c.id).where(
                tq.c.id.in_(list(chunk)), tq.c.state == CLAIMED, tq.c.worker_id == worker_id
            )
            out.update(r.id for r in self.conn.execute(q))
        return out

    def heartbeat(self, worker_id: str, ids: Sequence[int], lease_s: float) -> set[int]:
        """Renew this worker's leases on ``ids``; returns the ones it still holds."""
        out: set[int] = set()
        for chunk in _chunks(list(ids)):
            result = self.conn.execute(
                update(tq)
                .where(tq.c.id.in_(list(chunk)), tq.c.state == CLAIMED, tq.c.worker_id == worker_id)
                .values(lease_until=self._later(lease_s))
                .returning(tq.c.id)
            )
            out.update(r.id for r in result)
        return out

    def complete(self, worker_id: str, results: dict[int, dict[str, Any]]) -> set[int]:
        """Write results of rows this worker holds; returns the ids accepted (a row cancelled or
        lost meanwhile is not overwritten)."""
        accepted: set[int] = set()
        by_run: dict[str, list[int]] = {}
        now = utcnow()
        for row_id, result in results.items():
            params = {"row_id": row_id, "worker": worker_id, "result": result, "now": now}
            run_id = self.conn.execute(_COMPLETE, params).scalar()
            if run_id is not None:
                accepted.add(row_id)
                by_run.setdefault(run_id, []).append(row_id)
        for run_id, ids in by_run.items():  # wake the engines of those runs
            for chunk in _chunks(ids, 500):  # a payload is at most 8000 bytes
                self.notify(results_channel(run_id), ",".join(map(str, chunk)))
        return accepted

    def release(self, worker_id: str, ids: Sequence[int]) -> set[int]:
        """Give claimed rows back to the queue unfinished (a worker stopping, or preempted)."""
        out: set[int] = set()
        for chunk in _chunks(list(ids)):
            result = self.conn.execute(
                update(tq)
                .where(tq.c.id.in_(list(chunk)), tq.c.state == CLAIMED, tq.c.worker_id == worker_id)
                .values(state=QUEUED, worker_id=None, lease_until=None, claimed_at=None)
                .returning(tq.c.id)
            )
            out.update(r.id for r in result)
        if out:
            self.notify(QUEUE_CHANNEL)
        return out

    def waiting_above(self, pool: str, priority: int) -> int:
        """Queued rows of ``pool`` with a priority above ``priority`` (preemption check)."""
        q = select(func.count()).where(
            tq.c.state == QUEUED, tq.c.pool == pool, tq.c.priority > priority
        )
        return int(self.conn.execute(q).scalar_one())

    # --- views --------------------------------------------------------------------------------
    def inflight_by_namespace(self) -> dict[str | None, int]:
        q = (
            select(tq.c.namespace, func.count())
            .where(tq.c.state == CLAIMED)
            .group_by(tq.c.namespace)
        )
        return {ns: n for ns, n in self.conn.execute(q)}

    def depth(self) -> dict[tuple[str, str], int]:
        """Open rows by (pool, state)."""
        q = (
            select(tq.c.pool, tq.c.state, func.count())
            .where(tq.c.state.in_(OPEN))
            .group_by(tq.c.pool, tq.c.state)
        )
        return {(pool, state): n for pool, state, n in self.conn.execute(q)}

    def rows_of_run(self, run_id: str) -> list[Any]:
        q = (
            select(
                tq.c.id,
                tq.c.task_run_id,
                tq.c.attempt,
                tq.c.state,
                tq.c.worker_id,
                tq.c.pool,
                tq.c.result,
            )
            .where(tq.c.run_id == run_id)
            .order_by(tq.c.id)
        )
        return list(self.conn.execute(q))

    # --- workers ------------------------------------------------------------------------------
    def register_worker(self, values: dict[str, Any]) -> None:
        now = utcnow()
        row = {"started_at": now, "heartbeat_at": now, "stopped_at": None, "stats": {}, **values}
        exists = self.conn.execute(select(workers.c.id).where(workers.c.id == row["id"])).first()
        if exists:
            self.conn.execute(update(workers).where(workers.c.id == row["id"]).values(**row))
        else:
            self.conn.execute(insert(workers).values(**row))

    def worker_heartbeat(self, worker_id: str, stats: dict[str, Any] | None = None) -> None:
        values: dict[str, Any] = {"heartbeat_at": self._now()}
        if stats is not None:
            values["stats"] = stats
        self.conn.execute(update(workers).where(workers.c.id == worker_id).values(**values))

    def worker_stopped(self, worker_id: str) -> None:
        self.conn.execute(
            update(workers).where(workers.c.id == worker_id).values(stopped_at=utcnow())
        )

    def live_workers(self, within_s: float, pool: str | None = None) -> list[Any]:
        since = (
            func.now() - literal(timedelta(seconds=within_s))
            if self.pg
            else literal(utcnow() - timedelta(seconds=within_s), UtcDateTime())
        )
        q = select(workers).where(workers.c.stopped_at.is_(None), workers.c.heartbeat_at >= since)
        if pool is not None:
            q = q.where(workers.c.pool == pool)
        return list(self.conn.execute(q.order_by(workers.c.id)))

    # --- runs: who drives which ---------------------------------------------------------------
    def drivable_runs(
        self, executor: str = "queue", queued_per_namespace: int | None = None
    ) -> list[Any]:
        """Active runs for drivers, with what a driver needs to pick among them: queue runs,
        and runs that a service (API, schedule) started, whatever their executor (a driver
        turns ``local`` ones into queue runs; ``ray`` ones it drives on Ray).

        Every run under way or taken by a driver is returned (there are as many as engines
        drive); with ``queued_per_namespace``, of the queued runs no driver took only each
        namespace's first N by priority then age, so a deep queue costs a pass nothing."""
        columns = (
            runs.c.id,
            runs.c.state,
            runs.c.executor,
            runs.c.namespace,
            runs.c.priority,
            runs.c.engine_id,
            runs.c.heartbeat_at,
            runs.c.created_at,
        )
        drivable = and_(runs.c.state.in_(RUN_ACTIVE), _drivable(executor))
        if queued_per_namespace is None:
            q = select(*columns).where(drivable).order_by(runs.c.created_at, runs.c.id)
            return list(self.conn.execute(q))
        waiting = and_(runs.c.state == "queued", runs.c.engine_id.is_(None))
        under_way = select(*columns).where(drivable, ~waiting)
        rank = (
            func.row_number()
            .over(
                partition_by=runs.c.namespace,
                order_by=(runs.c.priority.desc(), runs.c.created_at, runs.c.id),
            )
            .label("rank")
        )
        ranked = select(*columns, rank).where(drivable, waiting).subquery()
        first = select(*(ranked.c[c.name] for c in columns)).where(
            ranked.c.rank <= int(queued_per_namespace)
        )
        rows = list(self.conn.execute(under_way)) + list(self.conn.execute(first))
        return sorted(rows, key=lambda r: (r.created_at, r.id))

    def lock_run_claims(self) -> None:
        """Serialize run claims between drivers (Postgres), so quotas are counted exactly."""
        self._lock(_RUN_CLAIM_LOCK)

    def claim_run(
        self,
        run_id: str,
        engine_id: str,
        seen_engine: str | None,
        seen_heartbeat: Any,
        executor: str | None = None,
    ) -> bool:
        """Take a run over, if it is still as it was seen (compare-and-set on its engine and
        heartbeat): of two drivers racing for one run, exactly one wins. A run a driver takes
        becomes a queue run (its tasks go to the workers; any driver may resume it)."""
        cond = [
            runs.c.id == run_id,
            runs.c.state.in_(RUN_ACTIVE),
            runs.c.engine_id.is_(None) if seen_engine is None else runs.c.engine_id == seen_engine,
            runs.c.heartbeat_at.is_(None)
            if seen_heartbeat is None
            else runs.c.heartbeat_at == seen_heartbeat,
        ]
        result = self.conn.execute(
            update(runs)
            .where(and_(*cond))
            .values(
                engine_id=engine_id,
                heartbeat_at=utcnow(),
                **({"executor": executor} if executor else {}),
            )
        )
        return bool(result.rowcount)

    def release_run(self, run_id: str, engine_id: str) -> bool:
        """Let go of a run this engine drives (any driver may take it at once)."""
        result = self.conn.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.engine_id == engine_id)
            .values(engine_id=None, heartbeat_at=None)
        )
        self.notify(RUNS_CHANNEL)
        return bool(result.rowcount)

    def going_by_namespace(self, names: Iterable[str]) -> dict[str, int]:
        """Runs of the namespaces ``names`` that count against their run quota, as a driver
        counts them: drivable runs under way, or taken by a driver and about to be."""
        wanted = sorted({n for n in names if n is not None})
        if not wanted:
            return {}
        q = (
            select(runs.c.namespace, func.count())
            .where(
                runs.c.namespace.in_(wanted),
                runs.c.state.in_(RUN_ACTIVE),
                _drivable(),
                or_(runs.c.state != "queued", runs.c.engine_id.is_not(None)),
            )
            .group_by(runs.c.namespace)
        )
        return {ns: n for ns, n in self.conn.execute(q)}

    def queued_by_priority(self, above: int) -> dict[int, int]:
        """Queued drivable runs with a priority above ``above``, counted by priority."""
        q = (
            select(runs.c.priority, func.count())
            .where(runs.c.state == "queued", runs.c.priority > above, _drivable())
            .group_by(runs.c.priority)
        )
        return {priority: n for priority, n in self.conn.execute(q)}

    # --- quotas, stored on the namespaces -----------------------------------------------------
    def run_quotas(self, names: Iterable[str | None] | None = None) -> dict[str, int]:
        """Namespace -> max_running_runs, for namespaces that have one (among ``names``)."""
        return self._quotas(namespaces.c.max_running_runs, names)

    def task_quotas(self, names: Iterable[str | None] | None = None) -> dict[str, int]:
        """Namespace -> max_running_tasks, for namespaces that have one (among ``names``)."""
        return self._quotas(namespaces.c.max_running_tasks, names)

    def _quotas(self, column: Any, names: Iterable[str | None] | None) -> dict[str, int]:
        q = select(namespaces.c.name, column).where(column.is_not(None))
        if names is not None:
            wanted = sorted({n for n in names if n is not None})
            if not wanted:
                return {}
            q = q.where(namespaces.c.name.in_(wanted))
        return {name: int(value) for name, value in self.conn.execute(q)}

    def pools_of(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The pool each queue run targets (kept in its plan)."""
        if not run_ids:
            return {}
        q = select(runs.c.id, runs.c.plan[("queue", "pool")].as_string()).where(
            runs.c.id.in_(list(run_ids))
        )
        return {run_id: pool or "default" for run_id, pool in self.conn.execute(q)}
