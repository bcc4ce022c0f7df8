from sqlalchemy import Column, Index, Integer, String, Table, Text

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

# Append-only: repositories only ever INSERT here.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource", Text, nullable=False, default=""),
    Column("decision", String(16), nullable=False, default="allow"),
    Column("details", Json(), nullable=False),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_actor_action", "actor", "action"),
)
