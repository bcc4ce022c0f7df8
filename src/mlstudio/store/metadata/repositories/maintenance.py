"""Pins, deleted versions, and the reads clean-up needs: who still uses a version or a blob."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from mlstudio.core.clock import utcnow
from mlstudio.store.metadata.tables import (
    cache_entries,
    datasets,
    deleted_versions,
    module_versions,
    run_pins,
    runs,
    schedules,
    task_queue,
    task_runs,
)

CHUNK = 500


class MaintenanceRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- pins ---------------------------------------------------------------------------------
    def pin(self, run_id: str, actor: str, reason: str) -> bool:
        """Pin a run; False when it already was (the first pin and its reason stay)."""
        if self.pin_of(run_id) is not None:
            return False
        self.conn.execute(
            insert(run_pins).values(
                run_id=run_id, reason=reason, pinned_by=actor, pinned_at=utcnow()
            )
        )
        return True

    def unpin(self, run_id: str) -> bool:
        return bool(self.conn.execute(delete(run_pins).where(run_pins.c.run_id == run_id)).rowcount)

    def pin_of(self, run_id: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(run_pins).where(run_pins.c.run_id == run_id)).first()
        return dict(r._mapping) if r else None

    def pinned_ids(self) -> set[str]:
        return {r.run_id for r in self.conn.execute(select(run_pins.c.run_id))}

    # --- deleted versions ---------------------------------------------------------------------
    def record_deletion(self, kind: str, name: str, version: int, digest: str, actor: str) -> None:
        self.conn.execute(
            insert(deleted_versions).values(
                kind=kind,
                name=name,
                version=version,
                digest=digest,
                deleted_by=actor,
                deleted_at=utcnow(),
            )
        )

    def deletion(self, kind: str, name: str, version: int) -> dict[str, Any] | None:
        r = self.conn.execute(
            select(deleted_versions).where(
                deleted_versions.c.kind == kind,
                deleted_versions.c.name == name,
                deleted_versions.c.version == version,
            )
        ).first()
        return dict(r._mapping) if r else None

    def highest_deleted(self, kind: str, name: str) -> int:
        """The highest deleted version number of ``name`` (0 if none): never given out again."""
        q = select(func.max(deleted_versions.c.version)).where(
            deleted_versions.c.kind == kind, deleted_versions.c.name == name
        )
        return int(self.conn.execute(q).scalar() or 0)

    # --- who uses what ------------------------------------------------------------------------
    def runs_locking(self, section: str, key: str, active: Sequence[str]) -> list[Any]:
        """``(id, state, pinned)`` of the runs whose plan has ``key`` in ``section`` (``code``:
        module versions ``NS/NAME@V``; ``datasets``: dataset versions) and that still need it:
        not finished (a state in ``active``), or pinned."""
        pinned = select(run_pins.c.run_id)
        q = (
            select(runs.c.id, runs.c.state, runs.c.id.in_(pinned).label("pinned"))
            .where(
                runs.c.plan[(section, key)].as_string().is_not(None),
                runs.c.state.in_(list(active)) | runs.c.id.in_(pinned),
            )
            .order_by(runs.c.created_at)
        )
        return list(self.conn.execute(q))

    def cache_entries_from(self, dataset_key: str) -> list[Any]:
        """``(workflow, count)`` of cache entries computed by runs that read ``dataset_key``."""
        q = (
            select(cache_entries.c.workflow, func.count())
            .join(runs, runs.c.id == cache_entries.c.run_id)
            .where(runs.c.plan[("datasets", dataset_key)].as_string().is_not(None))
            .group_by(cache_entries.c.workflow)
        )
        return list(self.conn.execute(q))

    def cache_entries_holding(self, digest: str) -> list[Any]:
        """``(workflow, count)`` of cache entries whose stored output is the blob ``digest``."""
        q = (
            select(cache_entries.c.workflow, func.count())
            .where(cache_entries.c.output[("v", "digest")].as_string() == digest)
            .group_by(cache_entries.c.workflow)
        )
        return list(self.conn.execute(q))

    def schedules_of(self, workflow_prefix: str) -> list[Any]:
        """``(id, workflow)`` of schedules whose workflow starts with ``workflow_prefix``."""
        q = select(schedules.c.id, schedules.c.workflow).where(
            schedules.c.workflow.like(f"{workflow_prefix}%")
        )
        return list(self.conn.execute(q))

    def domain_users(self, domain: str) -> dict[str, Any]:
        """What belongs to ``domain``: its run count, schedule ids, dataset versions by name."""
        run_count = self.conn.execute(
            select(func.count()).select_from(runs).where(runs.c.domain == domain)
        ).scalar()
        schedule_ids = [
            r.id
            for r in self.conn.execute(
                select(schedules.c.id).where(schedules.c.domain == domain).order_by(schedules.c.id)
            )
        ]
        by_name = {
            r.full_name: int(r.count)
            for r in self.conn.execute(
                select(datasets.c.full_name, func.count().label("count"))
                .where(datasets.c.domain == domain)
                .group_by(datasets.c.full_name)
                .order_by(datasets.c.full_name)
            )
        }
        return {"runs": int(run_count or 0), "schedules": schedule_ids, "datasets": by_name}

    def delete_dataset_version(self, full_name: str, version: int) -> None:
        self.conn.execute(
            delete(datasets).where(datasets.c.full_name == full_name, datasets.c.version == version)
        )

    # --- every reference to a blob (garbage collection) ---------------------------------------
    def version_digests(self) -> Iterator[str]:
        """Archives of every module version and blobs of every dataset version."""
        for r in self.conn.execute(select(module_versions.c.archive_digest)):
            yield r.archive_digest
        for r in self.conn.execute(select(datasets.c.digest)):
            yield r.digest

    def cache_outputs(self) -> Iterator[Any]:
        yield from (r.output for r in self.conn.execute(select(cache_entries.c.output)))

    def run_rows(self) -> Iterator[Any]:
        """``(id, state, created_at, finished_at, plan, output)`` of every run, streamed."""
        q = select(
            runs.c.id,
            runs.c.state,
            runs.c.created_at,
            runs.c.finished_at,
            runs.c.plan,
            runs.c.output,
        )
        yield from self.conn.execute(q.execution_options(yield_per=CHUNK))

    def task_outputs(self) -> Iterator[Any]:
        """``(run_id, output)`` of every task run, streamed."""
        q = select(task_runs.c.run_id, task_runs.c.output).where(task_runs.c.output.is_not(None))
        yield from self.conn.execute(q.execution_options(yield_per=CHUNK))

    def queued_work(self) -> Iterator[Any]:
        """``(dispatch, result)`` of task attempts not finished yet (in flight on workers)."""
        q = select(task_queue.c.dispatch, task_queue.c.result).where(
            task_queue.c.state.in_(("queued", "claimed"))
        )
        yield from self.conn.execute(q)
