"""Tables of clean-up: pinned runs, and the versions that were deleted (never reused)."""

from sqlalchemy import Column, Index, Integer, String, Table, Text, UniqueConstraint

from mlstudio.store.metadata.tables._base import UtcDateTime, metadata

# A pinned run keeps what it needs (its locked module versions, its input dataset versions,
# its outputs) whatever its age: clean-up and retention leave it alone until it is unpinned.
run_pins = Table(
    "run_pins",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("reason", Text, nullable=False, default=""),
    Column("pinned_by", String(128), nullable=False),
    Column("pinned_at", UtcDateTime, nullable=False),
)

# One row per deleted module or dataset version: its number is never given out again, and a
# reference to it says who deleted it and when. ``digest`` is informational (not a reference:
# garbage collection may remove the blob).
deleted_versions = Table(
    "deleted_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # dataset | module
    Column("name", String(129), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("deleted_by", String(128), nullable=False),
    Column("deleted_at", UtcDateTime, nullable=False),
    UniqueConstraint("kind", "name", "version"),
    Index("ix_deleted_versions_name", "kind", "name"),
)

# One row: this installation's random id, made when its database was created. Everything that
# shares the database (server, workers, CLIs on other hosts) reads the same id; shared external
# stores (the Redis online store) prefix their keys with it so two installations never collide.
installation = Table(
    "installation",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
)
