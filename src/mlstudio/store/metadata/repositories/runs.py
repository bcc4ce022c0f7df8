from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from mlstudio.core.clock import utcnow
from mlstudio.core.states import RUN_ACTIVE, RunState, TaskState
from mlstudio.store.metadata import direct
from mlstudio.store.metadata.tables import cache_entries, runs, task_runs
from mlstudio.workflows.records import RunRecord, TaskRunRecord

_RUN_FIELDS = [c.name for c in runs.columns]
_TASK_FIELDS = [c.name for c in task_runs.columns]
_UPDATES: dict[tuple[str, ...], Any] = {}  # task-run UPDATE statements by the columns they set
_CACHE_LOOKUP = select(cache_entries).where(
    cache_entries.c.key.in_(bindparam("keys", expanding=True))
)
_NODE_IDS = select(task_runs.c.node_id, task_runs.c.id).where(
    task_runs.c.run_id == bindparam("run_id"),
    task_runs.c.node_id.in_(bindparam("node_ids", expanding=True)),
)


def _update_for(keys: tuple[str, ...]) -> Any:
    """The (built once) executemany UPDATE of task runs setting ``keys``."""
    stmt = _UPDATES.get(keys)
    if stmt is None:
        stmt = _UPDATES[keys] = (
            update(task_runs)
            .where(task_runs.c.id == bindparam("_id"))
            .values({k: bindparam(f"_{k}") for k in keys})
        )
    return stmt


def _cache_upsert(dialect: str) -> Any:
    """INSERT of cache entries that leaves an existing one (the first engine to write wins)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    return upsert(cache_entries).on_conflict_do_nothing()


def _run(r) -> RunRecord:
    values = {k: getattr(r, k) for k in _RUN_FIELDS}
    values["state"] = RunState(values["state"])
    return RunRecord(**values)


def _task(r) -> TaskRunRecord:
    values = {k: getattr(r, k) for k in _TASK_FIELDS}
    values["state"] = TaskState(values["state"])
    return TaskRunRecord(**values)


class RunRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- runs ---------------------------------------------------------------------------------
    def create_run(self, values: dict[str, Any]) -> None:
        self.conn.execute(insert(runs).values(**values))

    def get_run(self, run_id: str) -> RunRecord | None:
        r = self.conn.execute(select(runs).where(runs.c.id == run_id)).first()
        return _run(r) if r else None

    def find_runs(self, prefix: str, limit: int = 5) -> list[str]:
        q = select(runs.c.id).where(runs.c.id.like(f"{prefix}%")).limit(limit)
        return [r.id for r in self.conn.execute(q)]

    def update_run(self, run_id: str, **values: Any) -> None:
        self.conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def update_active_run(self, run_id: str, *, held_by: str | None = None, **values: Any) -> bool:
        """Update a run only while it is active (and, with ``held_by``, only while that engine
        holds it): a compare-and-set, so a run that ended, or that another process took over,
        is never overwritten. True when the run was updated."""
        where = [runs.c.id == run_id, runs.c.state.in_(RUN_ACTIVE)]
        if held_by is not None:
            where.append(runs.c.engine_id == held_by)
        return bool(self.conn.execute(update(runs).where(*where).values(**values)).rowcount)

    def task_states_of(self, run_id: str) -> list[tuple[str, str, bool]]:
        """(node id, state, cache hit) of every task run of a run, in creation order: what a
        live view polls, without the outputs, logs and cache components a full read carries."""
        q = (
            select(task_runs.c.node_id, task_runs.c.state, task_runs.c.cache_hit)
            .where(task_runs.c.run_id == run_id)
            .order_by(task_runs.c.id)
        )
        return [(r.node_id, r.state, bool(r.cache_hit)) for r in self.conn.execute(q)]

    def renew_runs(self, run_ids: Sequence[str], engine_id: str) -> int:
        """Renew the heartbeat of those of ``run_ids`` that ``engine_id`` still holds (one
        statement for all the runs a driver process drives); the number renewed."""
        if not run_ids:
            return 0
        stmt = (
            update(runs)
            .where(
                runs.c.id.in_(list(run_ids)),
                runs.c.engine_id == engine_id,
                runs.c.state.in_(RUN_ACTIVE),
            )
            .values(heartbeat_at=utcnow())
        )
        return int(self.conn.execute(stmt).rowcount)

    def list_runs(
        self,
        *,
        state: str | None = None,
        workflow: str | None = None,
        user: str | None = None,
        domain: str | None = None,
        domains: Sequence[str] | None = None,
        namespace: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        cols = [c for c in runs.c if c.name not in ("plan", "lock")]
        q = (
            select(*cols)
            .order_by(runs.c.created_at.desc(), runs.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        if state:
            q = q.where(runs.c.state == state)
        if workflow:
            q = q.where(runs.c.workflow.like(f"{workflow}%"))
        if user:
            q = q.where(runs.c.created_by == user)
        if domain:
            q = q.where(runs.c.domain == domain)
        if domains is not None:
            q = q.where(runs.c.domain.in_(list(domains)))
        if namespace:
            q = q.where(runs.c.namespace == namespace)
        if since:
            q = q.where(runs.c.created_at >= since)
        out = []
        for r in self.conn.execute(q):
            values = {k: getattr(r, k, None) for k in _RUN_FIELDS}
            values["plan"], values["lock"] = {}, {}
            values["state"] = RunState(values["state"])
            out.append(RunRecord(**values))
        return out

    def task_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        if not run_ids:
            return {}
        q = (
            select(task_runs.c.run_id, task_runs.c.state, func.count())
            .where(task_runs.c.run_id.in_(list(run_ids)))
            .group_by(task_runs.c.run_id, task_runs.c.state)
        )
        out: dict[str, dict[str, int]] = {}
        for run_id, state, count in self.conn.execute(q):
            out.setdefault(run_id, {})[state] = count
        return out

    # --- task runs ----------------------------------------------------------------------------
    def insert_task_runs(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(task_runs), rows)

    def task_runs_of(
        self, run_id: str, node_ids: Iterable[str] | None = None
    ) -> list[TaskRunRecord]:
        q = select(task_runs).where(task_runs.c.run_id == run_id).order_by(task_runs.c.id)
        if node_ids is not None:
            q = q.where(task_runs.c.node_id.in_(list(node_ids)))
        return [_task(r) for r in self.conn.execute(q)]

    def update_task_runs(self, changes: list[dict[str, Any]]) -> None:
        """Apply per-row changes (each dict has ``id`` plus the columns to set), batched by shape."""
        by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for change in changes:
            keys = tuple(sorted(k for k in change if k != "id"))
            by_shape.setdefault(keys, []).append(change)
        for keys, rows in by_shape.items():
            names = [(k, f"_{k}") for k in keys]
            direct.execute(
                self.conn,
                _update_for(keys),
                [{"_id": r["id"], **{name: r[k] for k, name in names}} for r in rows],
            )

    def task_run_ids(self, run_id: str, node_ids: Sequence[str]) -> dict[str, int]:
        """node id -> task-run id, for the given nodes of a run."""
        out: dict[str, int] = {}
        for start in range(0, len(node_ids), 500):
            chunk = list(node_ids[start : start + 500])
            for node_id, id_ in self.conn.execute(_NODE_IDS, {"run_id": run_id, "node_ids": chunk}):
                out[node_id] = id_
        return out

    def last_components(
        self, workflow: str, node_id: str, before: datetime
    ) -> tuple[str, dict[str, Any]] | None:
        """The cache components of the newest earlier run of this node (for --explain)."""
        q = (
            select(task_runs.c.run_id, task_runs.c.cache_components)
            .join(runs, runs.c.id == task_runs.c.run_id)
            .where(
                runs.c.workflow == workflow,
                task_runs.c.node_id == node_id,
                runs.c.created_at < before,
                task_runs.c.cache_components.is_not(None),
            )
            .order_by(runs.c.created_at.desc())
            .limit(1)
        )
        r = self.conn.execute(q).first()
        return (r.run_id, r.cache_components) if r else None

    # --- cache --------------------------------------------------------------------------------
    def cache_lookup(self, keys: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        keys = list(keys)
        for start in range(0, len(keys), 500):
            for r in self.conn.execute(_CACHE_LOOKUP, {"keys": keys[start : start + 500]}):
                out[r.key] = r
        return out

    def cache_put(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        # an existing entry stays (two engines may compute the same key at once: the first
        # one wins); one statement, no lookup first
        unique = list({r["key"]: r for r in rows}.values())
        stmt = direct.statement_for(_cache_upsert, self.conn.dialect.name)
        direct.execute(self.conn, stmt, unique)

    def cache_hits(self, keys: Sequence[str]) -> None:
        if keys:
            self.conn.execute(
                update(cache_entries)
                .where(cache_entries.c.key.in_(list(keys)))
                .values(hits=cache_entries.c.hits + 1, last_hit_at=utcnow())
            )

    def cache_delete(self, keys: Sequence[str]) -> None:
        if keys:
            self.conn.execute(delete(cache_entries).where(cache_entries.c.key.in_(list(keys))))

    def cache_clear(
        self,
        *,
        workflow: str | None = None,
        task: str | None = None,
        older_than: datetime | None = None,
    ) -> int:
        q = delete(cache_entries)
        if workflow:
            q = q.where(cache_entries.c.workflow.like(f"{workflow}%"))
        if task:
            q = q.where(cache_entries.c.task == task)
        if older_than:
            q = q.where(cache_entries.c.created_at < older_than)
        return self.conn.execute(q).rowcount or 0

    def cache_stats(self) -> dict[str, Any]:
        """Hits, misses and compute time saved, overall and per workflow (from task runs)."""
        q = (
            select(
                runs.c.workflow,
                task_runs.c.cache_hit,
                func.count(),
                func.coalesce(func.sum(task_runs.c.duration_s), 0.0),
            )
            .join(runs, runs.c.id == task_runs.c.run_id)
            .where(
                task_runs.c.state.in_(("succeeded", "cached")), task_runs.c.cache_key.is_not(None)
            )
            .group_by(runs.c.workflow, task_runs.c.cache_hit)
        )
        per: dict[str, dict[str, Any]] = {}
        for workflow, hit, count, seconds in self.conn.execute(q):
            entry = per.setdefault(
                workflow, {"hits": 0, "misses": 0, "saved_s": 0.0, "computed_s": 0.0}
            )
            if hit:
                entry["hits"] += count
                entry["saved_s"] += float(seconds or 0.0)
            else:
                entry["misses"] += count
                entry["computed_s"] += float(seconds or 0.0)
        entries, size = self.conn.execute(
            select(func.count(), func.coalesce(func.sum(cache_entries.c.hits), 0))
        ).one()
        return {"per_workflow": per, "entries": entries, "entry_hits": int(size or 0)}
