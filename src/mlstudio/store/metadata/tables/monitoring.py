"""Monitors, their computed windows, alerts (one open episode per check and slice) and the
human feedback on them."""

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

monitors = Table(
    "monitors",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(129), nullable=False, unique=True),  # NS/NAME
    Column("namespace", String(64), nullable=False),
    Column("source", String(160), nullable=False),  # a dataset NS/NAME (latest version read)
    Column("domain", String(64), nullable=False),  # the domain the source is read as
    Column("spec", Json(), nullable=False),  # time column, period, dimensions, checks, ...
    Column("revision", Integer, nullable=False),  # counts config changes; feedback records it
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# one row per (monitor, check, window, slice): a re-run computes a window once
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor_id", String(32), ForeignKey("monitors.id"), nullable=False),
    Column("check_name", String(200), nullable=False),  # drift | anomaly:METRIC | data
    Column("window_key", String(32), nullable=False),  # the period's ISO start
    Column("period", Integer, nullable=False),  # its index (days/hours/weeks since the epoch)
    Column("slice", String(500), nullable=False),  # "" = all rows; "plan=pro,region=eu"
    Column("status", String(16), nullable=False),  # ok | drift | anomaly | no_data | ...
    Column("result", Json(), nullable=False),
    Column("revision", Integer, nullable=False),  # the monitor's revision that computed it
    Column("computed_at", UtcDateTime, nullable=False),
    UniqueConstraint("monitor_id", "check_name", "window_key", "slice"),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("monitor_id", String(32), ForeignKey("monitors.id"), nullable=False),
    Column("check_name", String(200), nullable=False),
    Column("slice", String(500), nullable=False),
    Column("kind", String(16), nullable=False),  # model | data
    Column("state", String(16), nullable=False),  # open | resolved
    # "CHECK|SLICE" while open, NULL once resolved: at most one open episode per check and slice
    Column("open_key", String(710), nullable=True),
    Column("first_window", String(32), nullable=False),
    Column("last_window", String(32), nullable=False),
    Column("windows", Integer, nullable=False),  # how many windows fired in this episode
    Column("evidence", Json(), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    UniqueConstraint("monitor_id", "open_key"),
    Index("ix_monitor_alerts_monitor", "monitor_id", "opened_at"),
)

monitor_feedback = Table(
    "monitor_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor_id", String(32), ForeignKey("monitors.id"), nullable=False),
    Column("alert_id", String(32), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("metric", String(200), nullable=True),
    Column("dims", Json(), nullable=False),  # the dimension filter ({} = every series)
    Column("start_window", String(32), nullable=False),
    Column("end_window", String(32), nullable=False),
    Column("given_at", Integer, nullable=False),  # the latest evaluated period when given
    Column("revision", Integer, nullable=False),  # the monitor's revision when given
    Column("comment", Text, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
