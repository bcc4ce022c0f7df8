"""Shared pieces of the work queue: defaults, namespace quotas, and why a queued run waits.

Quotas come from the environment, so every server and worker of a deployment reads the same:

- ``MLSTUDIO_RUN_QUOTAS="team-a=2,team-b=4"``: at most that many runs of a namespace are driven
  at once (the others stay queued: ``runs list`` says "namespace quota 2/2").
- ``MLSTUDIO_TASK_QUOTAS="team-a=8"``: at most that many tasks of a namespace are claimed by
  workers at once, across every pool.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from typing import Any

from mlstudio.errors import ConfigurationError

DEFAULT_POOL = "default"
LEASE_S = 15.0  # a worker's lease on a claimed task; renewed every third of it
QUEUE_EXECUTOR = "queue"
STALE_DRIVER_S = 15.0  # a run whose engine has not beaten for this long is taken over


def parse_quotas(text: str | None, variable: str = "quota") -> dict[str, int]:
    """``"a=2,b=4"`` -> {"a": 2, "b": 4}."""
    out: dict[str, int] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            number = int(value)
        except ValueError:
            number = -1
        if not sep or not name.strip() or number < 0:
            raise ConfigurationError(
                f"invalid {variable} entry {part!r}", hint="use NAMESPACE=N[,NAMESPACE=N…]"
            )
        out[name.strip()] = number
    return out


def run_quotas() -> dict[str, int]:
    return parse_quotas(os.environ.get("MLSTUDIO_RUN_QUOTAS"), "MLSTUDIO_RUN_QUOTAS")


def task_quotas() -> dict[str, int]:
    return parse_quotas(os.environ.get("MLSTUDIO_TASK_QUOTAS"), "MLSTUDIO_TASK_QUOTAS")


def queue_options(plan: dict[str, Any]) -> dict[str, Any]:
    """Where a queue run's tasks go (kept in the run's plan): pool and preemptible."""
    options = dict(plan.get("queue") or {})
    options.setdefault("pool", DEFAULT_POOL)
    options.setdefault("preemptible", False)
    return options


def waiting_reasons(uow: Any, runs: Sequence[Any], lease_s: float = LEASE_S) -> dict[str, str]:
    """Why each queue run among ``runs`` (records or summaries: id, state, namespace, priority,
    executor) is not making progress: a queued run waits for a driver, its namespace's quota,
    higher-priority runs or a worker; a running run may wait for a worker of its pool."""
    from mlstudio.store.metadata.repositories.queue import IN_PROCESS_TRIGGERS

    mine = [
        r
        for r in runs
        if (_get(r, "executor") == QUEUE_EXECUTOR and _get(r, "state") in ("queued", "running"))
        or (_get(r, "state") == "queued" and _get(r, "trigger") not in IN_PROCESS_TRIGGERS)
    ]
    if not mine:
        return {}
    pools = uow.queue.pools_of([_get(r, "id") for r in mine])
    live = {w.pool for w in uow.queue.live_workers(within_s=3 * lease_s)}
    quotas = run_quotas()
    running = uow.queue.running_by_namespace() if quotas else {}
    queued = [r for r in uow.queue.drivable_runs() if r.state == "queued"]
    out: dict[str, str] = {}
    for r in mine:
        run_id, pool = _get(r, "id"), pools.get(_get(r, "id"), DEFAULT_POOL)
        no_worker = pool not in live
        if _get(r, "state") == "running":
            if no_worker:
                out[run_id] = f"waiting for a worker in pool {pool}"
            continue
        ns = _get(r, "namespace")
        if ns in quotas and running.get(ns, 0) >= quotas[ns]:
            out[run_id] = f"namespace quota {running.get(ns, 0)}/{quotas[ns]}"
            continue
        ahead = sum(1 for q in queued if q.priority > (_get(r, "priority") or 0))
        if ahead:
            out[run_id] = f"behind {ahead} queued run(s) of higher priority"
        elif no_worker:
            out[run_id] = f"waiting for a worker in pool {pool}"
        else:
            out[run_id] = "waiting for a driver (mlstudio server, or mlstudio worker --drive)"
    return out


def _get(record: Any, key: str) -> Any:
    return record.get(key) if isinstance(record, dict) else getattr(record, key, None)


class Waker:
    """Waits until another process notifies ``channel`` or ``timeout`` passes.

    On Postgres it LISTENs on a connection of its own, so a worker or a driver wakes the moment
    work is queued instead of polling; elsewhere (SQLite, or while that connection is down) it
    just sleeps. A notification that arrives while nobody waits wakes the next wait."""

    def __init__(self, store: Any, channel: str) -> None:
        self.channel = channel
        self.url = store.engine.url if store.dialect == "postgresql" else None
        self.conn: Any = None
        self.retry_at = 0.0

    def _connect(self) -> Any:
        if self.conn is None and self.url is not None and time.monotonic() >= self.retry_at:
            import psycopg

            dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
            try:
                self.conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
                self.conn.execute(f"LISTEN {self.channel}")
            except Exception:
                self.close()
                self.retry_at = time.monotonic() + 5.0
        return self.conn

    def wait(self, timeout: float) -> bool:
        """True when woken by a notification."""
        conn = self._connect()
        if conn is None:
            time.sleep(timeout)
            return False
        try:
            return any(True for _ in conn.notifies(timeout=timeout, stop_after=1))
        except Exception:
            self.close()
            self.retry_at = time.monotonic() + 1.0
            return False

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None
