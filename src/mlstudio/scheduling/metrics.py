"""``/metrics``: the orchestrator's state in the Prometheus text format (version 0.0.4).

``render_metrics(platform)`` reads a handful of aggregates (one ``GROUP BY`` per table, task
runs in a single pass) in one read-only unit of work and formats them by hand; no client library.

- ``mlstudio_queue_depth{pool}``: queued task attempts per pool (``mlstudio_queue_claimed``:
  attempts held by workers); ``mlstudio_workers{pool}``: workers with a recent heartbeat.
- ``mlstudio_runs{state}``, ``mlstudio_task_runs{state}``: runs and task runs by state.
- ``mlstudio_task_duration_seconds``: histogram of executed (not cache-hit) task durations.
- ``mlstudio_cache_hit_ratio`` (NaN before any lookup) and ``mlstudio_cache_lookups_total{result}``.
- ``mlstudio_lease_expiries_total``: task attempts whose worker lease ran out (``lost`` rows,
  plus claimed rows whose lease is already past but not yet reaped).
- ``mlstudio_webhook_failures_total``: failed delivery attempts (every attempt but a delivered
  one's last); ``mlstudio_webhook_deliveries{state}``: the outbox by state.
- ``mlstudio_schedules{state}``, ``mlstudio_schedule_fires_total{result}``.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, func, select

from mlstudio.core.clock import utcnow

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0, 1800.0, 3600.0,
)  # fmt: skip
RUN_STATES = ("queued", "running", "cancelling", "succeeded", "failed", "cancelled")
TASK_STATES = (
    "pending", "running", "succeeded", "cached", "failed", "upstream_failed", "cancelled",
    "skipped",
)  # fmt: skip
DELIVERY_STATES = ("pending", "delivered", "failed")
WORKER_LIVE = timedelta(seconds=30)


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float | int, labels: dict[str, str] | None = None) -> None:
        if labels:
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{inner}}} {_number(value)}")
        else:
            self.lines.append(f"{name} {_number(value)}")

    def gauge_by(
        self, name: str, help_text: str, label: str, values: dict[str, int], known: tuple = ()
    ) -> None:
        self.family(name, "gauge", help_text)
        for key in sorted(set(known) | set(values)):
            self.sample(name, values.get(key, 0), {label: key})

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def collect(uow: Any) -> dict[str, Any]:
    """Every figure the metrics page shows, from one unit of work."""
    from mlstudio.store.metadata.tables import (
        runs,
        schedule_fires,
        schedules,
        task_queue,
        task_runs,
        workers,
    )

    conn = uow.conn
    now = utcnow()
    out: dict[str, Any] = {}

    q = (
        select(task_queue.c.pool, task_queue.c.state, func.count())
        .where(task_queue.c.state.in_(("queued", "claimed")))
        .group_by(task_queue.c.pool, task_queue.c.state)
    )
    depth: dict[str, int] = {}
    claimed: dict[str, int] = {}
    for pool, state, count in conn.execute(q):
        (depth if state == "queued" else claimed)[pool] = int(count)
    out["queue_depth"], out["queue_claimed"] = depth, claimed

    expired = case(
        (task_queue.c.state == "lost", 1),
        (and_(task_queue.c.state == "claimed", task_queue.c.lease_until < now), 1),
        else_=0,
    )
    out["lease_expiries"] = int(
        conn.execute(
            select(func.coalesce(func.sum(expired), 0)).where(
                task_queue.c.state.in_(("lost", "claimed"))
            )
        ).scalar_one()
    )

    q = (
        select(workers.c.pool, func.count())
        .where(workers.c.stopped_at.is_(None), workers.c.heartbeat_at >= now - WORKER_LIVE)
        .group_by(workers.c.pool)
    )
    out["workers"] = {pool: int(count) for pool, count in conn.execute(q)}

    q = select(runs.c.state, func.count()).group_by(runs.c.state)
    out["runs"] = {state: int(count) for state, count in conn.execute(q)}

    # task runs: states, the duration histogram and the cache ratio in one pass
    executed = and_(task_runs.c.cache_hit.is_(False), task_runs.c.duration_s.is_not(None))
    lookup = and_(
        task_runs.c.state.in_(("succeeded", "cached")), task_runs.c.cache_key.is_not(None)
    )
    columns = [
        func.count(),
        func.sum(case((executed, 1), else_=0)),
        func.sum(case((executed, task_runs.c.duration_s), else_=0.0)),
        func.sum(case((and_(lookup, task_runs.c.cache_hit.is_(True)), 1), else_=0)),
        func.sum(case((and_(lookup, task_runs.c.cache_hit.is_(False)), 1), else_=0)),
    ]
    columns += [
        func.sum(case((and_(executed, task_runs.c.duration_s <= b), 1), else_=0))
        for b in DURATION_BUCKETS
    ]
    states: dict[str, int] = {}
    hist = [0] * len(DURATION_BUCKETS)
    count = hits = misses = 0
    total = 0.0
    for row in conn.execute(select(task_runs.c.state, *columns).group_by(task_runs.c.state)):
        states[row[0]] = int(row[1])
        count += int(row[2] or 0)
        total += float(row[3] or 0.0)
        hits += int(row[4] or 0)
        misses += int(row[5] or 0)
        for i in range(len(DURATION_BUCKETS)):
            hist[i] += int(row[6 + i] or 0)
    out["task_runs"] = states
    out["durations"] = {"buckets": hist, "count": count, "sum": total}
    out["cache"] = {"hits": hits, "misses": misses}

    failures = uow.webhooks.failure_stats()
    out["webhook_failures"] = failures.pop("failed_attempts", 0)
    out["webhook_deliveries"] = failures

    q = select(schedules.c.paused, func.count()).group_by(schedules.c.paused)
    out["schedules"] = {("paused" if p else "active"): int(n) for p, n in conn.execute(q)}
    q = select(func.count(schedule_fires.c.run_id), func.count(schedule_fires.c.error)).select_from(
        schedule_fires
    )
    with_run, with_error = conn.execute(q).one()
    out["schedule_fires"] = {"run": int(with_run), "error": int(with_error)}
    return out


def render_metrics(platform: Any) -> str:
    """The metrics page (serve it with ``CONTENT_TYPE``)."""
    started = time.perf_counter()
    with platform.store.read() as uow:
        data = collect(uow)
    w = _Writer()
    w.gauge_by(
        "mlstudio_queue_depth",
        "Task attempts waiting in the queue for a worker, per pool.",
        "pool",
        data["queue_depth"],
        ("default",),
    )
    w.gauge_by(
        "mlstudio_queue_claimed",
        "Task attempts held by workers (claimed, lease live or not yet reaped), per pool.",
        "pool",
        data["queue_claimed"],
        ("default",),
    )
    w.gauge_by(
        "mlstudio_workers",
        "Workers with a heartbeat in the last 30 seconds, per pool.",
        "pool",
        data["workers"],
    )
    w.gauge_by("mlstudio_runs", "Runs by state.", "state", data["runs"], RUN_STATES)
    w.gauge_by("mlstudio_task_runs", "Task runs by state.", "state", data["task_runs"], TASK_STATES)

    name = "mlstudio_task_duration_seconds"
    w.family(name, "histogram", "Durations of executed (not cache-hit) task runs.")
    durations = data["durations"]
    for bound, cumulative in zip(DURATION_BUCKETS, durations["buckets"], strict=True):
        w.sample(f"{name}_bucket", cumulative, {"le": _number(bound)})
    w.sample(f"{name}_bucket", durations["count"], {"le": "+Inf"})
    w.sample(f"{name}_sum", float(durations["sum"]))
    w.sample(f"{name}_count", durations["count"])

    cache = data["cache"]
    lookups = cache["hits"] + cache["misses"]
    w.family("mlstudio_cache_hit_ratio", "gauge", "Cache hits over cacheable task results.")
    w.sample("mlstudio_cache_hit_ratio", cache["hits"] / lookups if lookups else math.nan)
    w.family("mlstudio_cache_lookups_total", "counter", "Cacheable task results by outcome.")
    w.sample("mlstudio_cache_lookups_total", cache["hits"], {"result": "hit"})
    w.sample("mlstudio_cache_lookups_total", cache["misses"], {"result": "miss"})

    w.family(
        "mlstudio_lease_expiries_total",
        "counter",
        "Task attempts whose worker lease expired (the worker died or lost the database).",
    )
    w.sample("mlstudio_lease_expiries_total", data["lease_expiries"])

    w.family("mlstudio_webhook_failures_total", "counter", "Failed webhook delivery attempts.")
    w.sample("mlstudio_webhook_failures_total", data["webhook_failures"])
    w.gauge_by(
        "mlstudio_webhook_deliveries",
        "Webhook deliveries in the outbox by state.",
        "state",
        data["webhook_deliveries"],
        DELIVERY_STATES,
    )

    w.gauge_by(
        "mlstudio_schedules",
        "Schedules by state.",
        "state",
        data["schedules"],
        ("active", "paused"),
    )
    w.family("mlstudio_schedule_fires_total", "counter", "Schedule ticks fired, by outcome.")
    for result, value in data["schedule_fires"].items():
        w.sample("mlstudio_schedule_fires_total", value, {"result": result})

    w.family("mlstudio_metrics_render_seconds", "gauge", "Time taken to collect these metrics.")
    w.sample("mlstudio_metrics_render_seconds", round(time.perf_counter() - started, 6))
    return w.text()
