from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

namespaces = Table(
    "namespaces",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # workload quotas (None: unlimited): runs driven at once, tasks claimed by workers at once
    Column("max_running_runs", Integer, nullable=True),
    Column("max_running_tasks", Integer, nullable=True),
)

modules = Table(
    "modules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(64), ForeignKey("namespaces.name"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("full_name", String(129), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("latest_version", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

module_versions = Table(
    "module_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("module_id", Integer, ForeignKey("modules.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("archive_digest", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("manifest", Json(), nullable=False),
    Column("tasks", Json(), nullable=False),
    Column("requirements", Json(), nullable=False),
    Column("env_digest", String(64), nullable=True),
    Column("env_lock", Text, nullable=True),
    Column("pushed_by", String(128), nullable=False),
    Column("pushed_at", UtcDateTime, nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("git_commit", String(64), nullable=True),
    Column("git_dirty", Boolean, nullable=True),
    Column("tests_passed", Boolean, nullable=False),
    Column("test_summary", Json(), nullable=False),
    UniqueConstraint("module_id", "version"),
    UniqueConstraint("module_id", "digest"),
)

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("module_id", Integer, ForeignKey("modules.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("module_id", "name"),
)

# Append-only history of every tag move; rollback walks it backwards.
tag_events = Table(
    "tag_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("module_id", Integer, ForeignKey("modules.id"), nullable=False, index=True),
    Column("tag", String(64), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)
