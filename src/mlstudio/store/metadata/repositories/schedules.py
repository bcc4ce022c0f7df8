"""Schedules and their fires (tables ``schedules`` and ``schedule_fires``).

A fire row is the claim on one tick: its unique key ``(schedule_id, tick)`` means a tick fires at
most once, whoever fires it; the scheduler writes it in the same transaction as the run it starts
and the schedule's advance, so a tick's fire, its run and the new ``next_fire_at`` exist together
or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from mlstudio.core.clock import iso
from mlstudio.store.metadata.tables import runs, schedule_fires, schedules


@dataclass(frozen=True)
class ScheduleRecord:
    id: str
    workflow: str
    cron: str
    timezone: str
    catchup: str
    params: dict[str, Any]
    domain: str
    paused: bool
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    created_by: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "cron": self.cron,
            "timezone": self.timezone,
            "catchup": self.catchup,
            "params": dict(self.params),
            "domain": self.domain,
            "state": "paused" if self.paused else "active",
            "next_fire_at": None if self.paused else iso(self.next_fire_at),
            "last_fire_at": iso(self.last_fire_at),
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class FireRecord:
    schedule_id: str
    tick: datetime
    run_id: str | None
    run_state: str | None
    fired_at: datetime
    fired_by: str
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tick": iso(self.tick),
            "run_id": self.run_id,
            "run_state": self.run_state,
            "fired_at": iso(self.fired_at),
            "fired_by": self.fired_by,
            "error": self.error,
        }


_FIELDS = [c.name for c in schedules.columns]


def _schedule(r: Any) -> ScheduleRecord:
    return ScheduleRecord(**{k: getattr(r, k) for k in _FIELDS})


class ScheduleRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"

    # --- schedules ----------------------------------------------------------------------------
    def create(self, values: dict[str, Any]) -> ScheduleRecord:
        self.conn.execute(insert(schedules).values(**values))
        found = self.get(values["id"])
        assert found is not None
        return found

    def get(self, schedule_id: str) -> ScheduleRecord | None:
        r = self.conn.execute(select(schedules).where(schedules.c.id == schedule_id)).first()
        return _schedule(r) if r else None

    def find(self, prefix: str, limit: int = 5) -> list[str]:
        q = select(schedules.c.id).where(schedules.c.id.like(f"{prefix}%")).limit(limit)
        return [r.id for r in self.conn.execute(q)]

    def list(
        self,
        *,
        domains: Sequence[str] | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ScheduleRecord]:
        q = select(schedules).order_by(schedules.c.created_at, schedules.c.id)
        if domains is not None:
            q = q.where(schedules.c.domain.in_(list(domains)))
        if workflow:
            q = q.where(schedules.c.workflow.like(f"{workflow}%"))
        q = q.limit(limit).offset(offset)
        return [_schedule(r) for r in self.conn.execute(q)]

    def due(self, now: datetime, limit: int = 200) -> list[ScheduleRecord]:
        """Active schedules whose next fire is at or before ``now`` (oldest first; no locks)."""
        q = (
            select(schedules)
            .where(schedules.c.paused.is_(False), schedules.c.next_fire_at <= now)
            .order_by(schedules.c.next_fire_at)
            .limit(limit)
        )
        return [_schedule(r) for r in self.conn.execute(q)]

    def claim(self, schedule_id: str, expected_next: datetime) -> ScheduleRecord | None:
        """Lock an active schedule whose next fire is still ``expected_next``, else None.

        Postgres: ``FOR UPDATE SKIP LOCKED`` (a schedule another scheduler is firing is skipped,
        not waited for). SQLite: write transactions already serialize (BEGIN IMMEDIATE), and the
        compare on ``next_fire_at`` turns away a scheduler that lost the race.
        """
        q = select(schedules).where(
            schedules.c.id == schedule_id,
            schedules.c.paused.is_(False),
            schedules.c.next_fire_at == expected_next,
        )
        if self.pg:
            q = q.with_for_update(skip_locked=True)
        r = self.conn.execute(q).first()
        return _schedule(r) if r else None

    def lock(self, schedule_id: str) -> ScheduleRecord | None:
        q = select(schedules).where(schedules.c.id == schedule_id)
        if self.pg:
            q = q.with_for_update()
        r = self.conn.execute(q).first()
        return _schedule(r) if r else None

    def update(self, schedule_id: str, **values: Any) -> None:
        self.conn.execute(update(schedules).where(schedules.c.id == schedule_id).values(**values))

    def delete(self, schedule_id: str) -> None:
        self.conn.execute(delete(schedules).where(schedules.c.id == schedule_id))

    # --- fires --------------------------------------------------------------------------------
    def insert_fire(
        self,
        schedule_id: str,
        tick: datetime,
        fired_at: datetime,
        fired_by: str,
        *,
        error: str | None = None,
    ) -> int | None:
        """Claim ``tick``: the new fire's id, or None when the tick has already fired."""
        if self.pg:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        stmt = (
            dialect_insert(schedule_fires)
            .values(
                schedule_id=schedule_id,
                tick=tick,
                fired_at=fired_at,
                fired_by=fired_by[:128],
                error=error,
            )
            .on_conflict_do_nothing(index_elements=["schedule_id", "tick"])
            .returning(schedule_fires.c.id)
        )
        row = self.conn.execute(stmt).first()
        return row[0] if row else None

    def set_fire_run(self, fire_id: int, run_id: str) -> None:
        self.conn.execute(
            update(schedule_fires).where(schedule_fires.c.id == fire_id).values(run_id=run_id)
        )

    def fires(
        self, schedule_ids: Sequence[str], *, per_schedule: int = 5
    ) -> dict[str, list[FireRecord]]:
        """The newest ``per_schedule`` fires of each schedule, with their runs' states."""
        if not schedule_ids:
            return {}
        rank = (
            func.row_number()
            .over(partition_by=schedule_fires.c.schedule_id, order_by=schedule_fires.c.tick.desc())
            .label("rank")
        )
        inner = (
            select(schedule_fires, rank)
            .where(schedule_fires.c.schedule_id.in_(list(schedule_ids)))
            .subquery()
        )
        q = (
            select(inner, runs.c.state.label("run_state"))
            .outerjoin(runs, runs.c.id == inner.c.run_id)
            .where(inner.c.rank <= per_schedule)
            .order_by(inner.c.schedule_id, inner.c.tick.desc())
        )
        out: dict[str, list[FireRecord]] = {}
        for r in self.conn.execute(q):
            out.setdefault(r.schedule_id, []).append(
                FireRecord(
                    schedule_id=r.schedule_id,
                    tick=r.tick,
                    run_id=r.run_id,
                    run_state=r.run_state,
                    fired_at=r.fired_at,
                    fired_by=r.fired_by,
                    error=r.error,
                )
            )
        return out

    def fire_counts(self, schedule_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per schedule: fires in all, and how many started a run."""
        if not schedule_ids:
            return {}
        q = (
            select(
                schedule_fires.c.schedule_id,
                func.count(),
                func.count(schedule_fires.c.run_id),
            )
            .where(schedule_fires.c.schedule_id.in_(list(schedule_ids)))
            .group_by(schedule_fires.c.schedule_id)
        )
        return {
            sid: {"fires": int(total), "runs": int(with_run)}
            for sid, total, with_run in self.conn.execute(q)
        }
