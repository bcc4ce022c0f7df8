"""Shared pieces of the work queue: defaults, and why a queued run waits.

Per-namespace quotas are stored on the namespace (``mlstudio namespace quota NS --runs N
--tasks N``; admins) and read from the database at every claim, so every server and worker
applies the same ones and a change takes effect at once, without a restart:

- ``max_running_runs``: at most that many runs of the namespace are driven at once (the others
  stay queued: ``runs list`` says "namespace quota 2/2").
- ``max_running_tasks``: at most that many tasks of the namespace are claimed by workers at
  once, across every pool.

The environment variables that used to carry quotas are no longer read; a driver or worker
started with one set logs a warning saying so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

DEFAULT_POOL = "default"
LEASE_S = 15.0  # a worker's lease on a claimed task; renewed every third of it
QUEUE_EXECUTOR = "queue"
STALE_DRIVER_S = 15.0  # a run whose engine has not beaten for this long is taken over
RETIRED_QUOTA_VARIABLES = ("MLSTUDIO_RUN_QUOTAS", "MLSTUDIO_TASK_QUOTAS")


def warn_retired_quota_variables(log: logging.Logger) -> list[str]:
    """Warn about quota variables still set (ignored: quotas live in the database)."""
    found = [name for name in RETIRED_QUOTA_VARIABLES if os.environ.get(name)]
    for name in found:
        log.warning(
            "%s is no longer read and has no effect: quotas are stored per namespace; "
            "set them with: mlstudio namespace quota NS --runs N --tasks N",
            name,
        )
    return found


def queue_options(plan: dict[str, Any]) -> dict[str, Any]:
    """Where a queue run's tasks go (kept in the run's plan): pool and preemptible."""
    options = dict(plan.get("queue") or {})
    options.setdefault("pool", DEFAULT_POOL)
    options.setdefault("preemptible", False)
    return options


def waiting_reasons(uow: Any, runs: Sequence[Any], lease_s: float = LEASE_S) -> dict[str, str]:
    """Why each queue run among ``runs`` (records or summaries: id, state, namespace, priority,
    executor) is not making progress: a queued run waits for a driver, its namespace's quota,
    higher-priority runs or a worker; a running run may wait for a worker of its pool.

    A few small queries whatever the number of active runs: queued runs of higher priority
    counted by priority, run quotas and their use for the page's namespaces only."""
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
    queued = [r for r in mine if _get(r, "state") == "queued"]
    quotas = uow.queue.run_quotas(_get(r, "namespace") for r in queued) if queued else {}
    going = uow.queue.going_by_namespace(quotas) if quotas else {}
    lowest = min((_get(r, "priority") or 0 for r in queued), default=0)
    above = uow.queue.queued_by_priority(lowest) if queued else {}
    out: dict[str, str] = {}
    for r in mine:
        run_id, pool = _get(r, "id"), pools.get(_get(r, "id"), DEFAULT_POOL)
        no_worker = pool not in live
        if _get(r, "state") == "running":
            if no_worker:
                out[run_id] = f"waiting for a worker in pool {pool}"
            continue
        ns = _get(r, "namespace")
        if ns in quotas and going.get(ns, 0) >= quotas[ns]:
            out[run_id] = f"namespace quota {going.get(ns, 0)}/{quotas[ns]}"
            continue
        priority = _get(r, "priority") or 0
        ahead = sum(n for p, n in above.items() if p > priority)
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
    """Waits until another process notifies one of its channels or ``timeout`` passes.

    On Postgres it LISTENs on a connection of its own, so a worker or a driver wakes the moment
    work is queued instead of polling; elsewhere (SQLite, or while that connection is down) it
    just sleeps. A notification that arrives while nobody waits wakes the next wait.
    Notifications are hints, never the record: one sent while the connection was down is lost
    (``connects`` counts connections made, so a caller can re-read what it may have missed)."""

    def __init__(self, store: Any, channel: str, *more: str) -> None:
        self.channel = channel
        self.channels = [channel, *more]
        self.url = store.engine.url if store.dialect == "postgresql" else None
        self.conn: Any = None
        self.retry_at = 0.0
        self.connects = 0

    def _connect(self) -> Any:
        if self.conn is None and self.url is not None and time.monotonic() >= self.retry_at:
            import psycopg

            dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
            try:
                self.conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
                for channel in self.channels:
                    self.conn.execute(f'LISTEN "{channel}"')
                self.connects += 1
            except Exception:
                self.close()
                self.retry_at = time.monotonic() + 5.0
        return self.conn

    def listen(self, channel: str) -> bool:
        """Also wake on ``channel`` (from now on); False when not listening (no connection)."""
        if channel not in self.channels:
            self.channels.append(channel)
            if self.conn is not None:
                try:
                    self.conn.execute(f'LISTEN "{channel}"')
                except Exception:
                    self.close()
                    self.retry_at = time.monotonic() + 1.0
        return self._connect() is not None

    def wait(self, timeout: float) -> bool:
        """True when woken by a notification."""
        return bool(self.receive(timeout))

    def receive(self, timeout: float) -> list[str] | None:
        """The payloads of the notifications that arrive within ``timeout`` (all those waiting
        once the first has come); None when not listening (it slept instead)."""
        conn = self._connect()
        if conn is None:
            time.sleep(timeout)
            return None
        try:
            got = [n.payload for n in conn.notifies(timeout=timeout, stop_after=1)]
            if got:  # and whatever else has arrived, without waiting
                got.extend(n.payload for n in conn.notifies(timeout=0))
            return got
        except Exception:
            self.close()
            self.retry_at = time.monotonic() + 1.0
            return None

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None
