"""Scheduled monitor runs: a server loop that runs each monitor when its cron fires.

``mlstudio monitor add … --schedule CRON`` stores the expression; :func:`start` (one of the
server's background loops) runs the monitor as its creator at every fire time after the loop
started, so the creator's rights at that moment decide, and a refusal is audited like any
``monitor.run``. A run computes only the complete windows not computed yet (unique keys), so
two servers on one database, or a fire missed while a server was down and caught up later, never
compute a window twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("mlstudio.monitoring")

TICK_S = 10.0


class MonitorScheduler:
    """What fires when; :meth:`tick` runs the monitors whose next fire time has come."""

    def __init__(self, platform: Any, clock: Callable[[], datetime] | None = None) -> None:
        from mlstudio.integrations.monitoring.service import MonitorService

        self.platform = platform
        self.service = MonitorService(platform.store, platform.cas, platform.runs)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.started = self.clock()
        self.next_fire: dict[tuple[str, str], datetime] = {}  # (monitor, cron) -> next instant

    def tick(self) -> list[dict[str, Any]]:
        """Run every monitor whose fire time is due; returns what each run reported."""
        from mlstudio.errors import MlstudioError
        from mlstudio.scheduling.schedules import Cron

        now = self.clock()
        with self.platform.store.read() as uow:
            rows = [r for r in uow.monitoring.list() if (r["spec"] or {}).get("schedule")]
        done = []
        for row in rows:
            key = (row["name"], row["spec"]["schedule"])
            due = self.next_fire.get(key)
            if due is None:
                due = next(iter(Cron.parse(key[1]).iter_after(self.started)), None)
                if due is None:
                    continue
            if due > now:
                self.next_fire[key] = due
                continue
            self.next_fire[key] = next(iter(Cron.parse(key[1]).iter_after(now)), due)
            try:
                report = self.service.run(row["created_by"], row["name"], now=now)
                done.append({"monitor": row["name"], "fired_at": due.isoformat(), **report})
            except MlstudioError as exc:  # refused (audited by the service) or bad data
                log.warning("scheduled run of monitor %s failed: %s", row["name"], exc.one_line())
                done.append({"monitor": row["name"], "error": exc.one_line()})
        return done


def start(platform: Any, stop: threading.Event, interval: float = TICK_S) -> threading.Thread:
    """Run scheduled monitors in a daemon thread until ``stop`` is set (the server calls this)."""
    from mlstudio.core.loops import start_every

    scheduler = MonitorScheduler(platform)
    return start_every(
        "mlstudio-monitors", scheduler.tick, stop, interval, log, "scheduled monitor pass"
    )
