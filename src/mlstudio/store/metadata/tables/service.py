"""Tables of the orchestrator service: the task queue and workers, schedules, webhooks."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

# One row per dispatched task attempt. Workers claim rows with SELECT … FOR UPDATE SKIP LOCKED
# (Postgres) and hold them with a lease they renew by heartbeat; an expired lease returns the
# attempt to the engine as crashed (it retries per the task's policy).
task_queue = Table(
    "task_queue",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", String(40), nullable=False),
    Column("task_run_id", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("pool", String(64), nullable=False, default="default"),
    Column("namespace", String(64), nullable=True),
    Column("priority", Integer, nullable=False, default=0),
    Column("dispatch", Json(), nullable=False),
    Column("state", String(16), nullable=False),  # queued | claimed | done | cancelled
    Column("worker_id", String(128), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("result", Json(), nullable=True),
    Column("enqueued_at", UtcDateTime, nullable=False),
    Column("claimed_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    UniqueConstraint("task_run_id", "attempt"),
    Index("ix_task_queue_claim", "state", "pool", "priority", "id"),
    Index("ix_task_queue_run_state", "run_id", "state"),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("pool", String(64), nullable=False),
    Column("host", String(128), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
    Column("stopped_at", UtcDateTime, nullable=True),
    Column("stats", Json(), nullable=False),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("workflow", Text, nullable=False),
    Column("cron", String(128), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("catchup", String(8), nullable=False),  # none | latest | all
    Column("params", Json(), nullable=False),
    Column("domain", String(64), nullable=False),
    Column("paused", Boolean, nullable=False, default=False),
    Column("next_fire_at", UtcDateTime, nullable=True),
    Column("last_fire_at", UtcDateTime, nullable=True),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_schedules_due", "paused", "next_fire_at"),
)

# One row per fired tick: the unique key makes a tick fire exactly once, whoever fires it.
schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule_id", String(40), nullable=False),
    Column("tick", UtcDateTime, nullable=False),
    Column("run_id", String(40), nullable=True),
    Column("fired_at", UtcDateTime, nullable=False),
    Column("fired_by", String(128), nullable=False),
    Column("error", Text, nullable=True),
    UniqueConstraint("schedule_id", "tick"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("events", Json(), nullable=False),  # ["run.started", "run.succeeded", …]
    Column("active", Boolean, nullable=False, default=True),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# The durable outbox: events are written in the same transaction as the state change they
# describe and delivered at least once, in order per webhook.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("webhook_id", String(40), nullable=False),
    Column("event", String(64), nullable=False),
    Column("payload", Json(), nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_latency_ms", Float, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    Index("ix_webhook_deliveries_pending", "state", "webhook_id", "id"),
)

# The delivery log: one row per attempt to POST a delivery (status, error, latency, who sent it).
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("delivery_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("webhook_id", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("status", Integer, nullable=True),  # the HTTP status; None when none came back
    Column("error", Text, nullable=True),
    Column("latency_ms", Float, nullable=True),
    Column("sent_by", String(128), nullable=False),
    Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),
)
