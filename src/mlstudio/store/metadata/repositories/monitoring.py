"""Rows of monitors, their windows, alerts and feedback (plain dicts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from mlstudio.core.clock import utcnow
from mlstudio.store.metadata.tables import (
    monitor_alerts,
    monitor_feedback,
    monitor_windows,
    monitors,
    runs,
)


def _row(r: Any) -> dict[str, Any] | None:
    return dict(r._mapping) if r is not None else None


class MonitorRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- monitors -----------------------------------------------------------------------------
    def add(self, values: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        self.conn.execute(
            insert(monitors).values(**values, revision=1, created_at=now, updated_at=now)
        )
        found = self.get(values["name"])
        assert found is not None
        return found

    def get(self, name: str) -> dict[str, Any] | None:
        return _row(self.conn.execute(select(monitors).where(monitors.c.name == name)).first())

    def lock(self, monitor_id: str) -> None:
        """Hold the monitor's row until the transaction ends (Postgres; SQLite writes serialize)."""
        self.conn.execute(
            select(monitors.c.id).where(monitors.c.id == monitor_id).with_for_update()
        )

    def update_spec(self, monitor_id: str, spec: dict[str, Any]) -> None:
        """A config change: the new spec and the next revision (feedback records it)."""
        self.conn.execute(
            update(monitors)
            .where(monitors.c.id == monitor_id)
            .values(spec=spec, revision=monitors.c.revision + 1, updated_at=utcnow())
        )

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        q = select(monitors).order_by(monitors.c.name)
        if namespace:
            q = q.where(monitors.c.namespace == namespace)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def remove(self, monitor_id: str) -> None:
        for table in (monitor_feedback, monitor_alerts, monitor_windows):
            self.conn.execute(delete(table).where(table.c.monitor_id == monitor_id))
        self.conn.execute(delete(monitors).where(monitors.c.id == monitor_id))

    def retrain_times(self, name: str) -> list[str]:
        """When (the evaluation's ISO time) each run that monitor ``name`` triggered was
        started: read from the runs themselves, so a backfill's new alerts do not forget them."""
        q = select(runs.c.plan[("triggered_by", "at")].as_string()).where(
            runs.c.trigger == "monitor",
            runs.c.plan[("triggered_by", "monitor")].as_string() == name,
        )
        return [at for (at,) in self.conn.execute(q) if at]

    # --- windows ------------------------------------------------------------------------------
    def window_keys(self, monitor_id: str, check: str) -> set[tuple[str, str]]:
        q = select(monitor_windows.c.window_key, monitor_windows.c.slice).where(
            monitor_windows.c.monitor_id == monitor_id, monitor_windows.c.check_name == check
        )
        return {(r.window_key, r.slice) for r in self.conn.execute(q)}

    def add_windows(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            now = utcnow()
            self.conn.execute(insert(monitor_windows), [{**r, "computed_at": now} for r in rows])

    def windows(
        self, monitor_id: str, *, check: str | None = None, slice: str | None = None
    ) -> list[dict[str, Any]]:
        q = select(monitor_windows).where(monitor_windows.c.monitor_id == monitor_id)
        if check is not None:
            q = q.where(monitor_windows.c.check_name == check)
        if slice is not None:
            q = q.where(monitor_windows.c.slice == slice)
        q = q.order_by(
            monitor_windows.c.check_name, monitor_windows.c.slice, monitor_windows.c.period
        )
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def delete_window(self, monitor_id: str, check: str, window_key: str, slice: str) -> None:
        self.conn.execute(
            delete(monitor_windows).where(
                monitor_windows.c.monitor_id == monitor_id,
                monitor_windows.c.check_name == check,
                monitor_windows.c.window_key == window_key,
                monitor_windows.c.slice == slice,
            )
        )

    def delete_windows(self, monitor_id: str, check: str | None = None) -> int:
        q = delete(monitor_windows).where(monitor_windows.c.monitor_id == monitor_id)
        if check is not None:
            q = q.where(monitor_windows.c.check_name == check)
        return int(self.conn.execute(q).rowcount or 0)

    # --- alerts -------------------------------------------------------------------------------
    def open_alert(self, monitor_id: str, open_key: str) -> dict[str, Any] | None:
        q = select(monitor_alerts).where(
            monitor_alerts.c.monitor_id == monitor_id, monitor_alerts.c.open_key == open_key
        )
        return _row(self.conn.execute(q).first())

    def add_alert(self, values: dict[str, Any]) -> None:
        self.conn.execute(insert(monitor_alerts).values(**values, opened_at=utcnow()))

    def update_alert(self, alert_id: str, **values: Any) -> None:
        self.conn.execute(
            update(monitor_alerts).where(monitor_alerts.c.id == alert_id).values(**values)
        )

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        q = select(monitor_alerts).where(monitor_alerts.c.id == alert_id)
        return _row(self.conn.execute(q).first())

    def alerts(
        self, monitor_id: str | None = None, *, state: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        q = select(monitor_alerts).order_by(
            monitor_alerts.c.opened_at.desc(), monitor_alerts.c.id.desc()
        )
        if monitor_id is not None:
            q = q.where(monitor_alerts.c.monitor_id == monitor_id)
        if state is not None:
            q = q.where(monitor_alerts.c.state == state)
        return [dict(r._mapping) for r in self.conn.execute(q.limit(limit))]

    # --- feedback -----------------------------------------------------------------------------
    def add_feedback(self, values: dict[str, Any]) -> int:
        q = insert(monitor_feedback).values(**values, created_at=utcnow())
        return int(self.conn.execute(q.returning(monitor_feedback.c.id)).scalar_one())

    def feedback(self, monitor_id: str) -> list[dict[str, Any]]:
        q = (
            select(monitor_feedback)
            .where(monitor_feedback.c.monitor_id == monitor_id)
            .order_by(monitor_feedback.c.id)
        )
        return [dict(r._mapping) for r in self.conn.execute(q)]
