"""The model registry: registered models, immutable versions, aliases (with their history),
approvals bound to a version's digest, and the recorded loads of a version."""

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("namespace", String(64), nullable=True),  # its maintainers manage the model too
    Column("owner", String(128), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("protected_aliases", Json(), nullable=False),  # need an approved version
    Column("tags", Json(), nullable=False),
    Column("latest_version", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

registered_model_versions = Table(
    "registered_model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # of the model artifact (or its source)
    Column("source", Text, nullable=False),
    Column("artifact", Json(), nullable=True),  # the stored value's ref (native versions)
    Column("run_id", String(64), nullable=True),
    Column("node_id", Text, nullable=True),
    Column("task", String(128), nullable=True),
    Column("module", String(160), nullable=True),
    Column("lineage", Json(), nullable=False),
    Column("classification", Json(), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("tags", Json(), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("model_id", "version"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("model_id", "alias"),
)

# Append-only: every alias move and removal; "which version was champion at T" reads it.
model_alias_events = Table(
    "model_alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),  # None: the alias was removed
    Column("actor", String(128), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_model_alias_events_model_alias_at", "model_id", "alias", "at"),
)

# Append-only: approvals and rejections, each bound to the digest it was given for.
model_approvals = Table(
    "model_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("decision", String(16), nullable=False),  # approved | rejected
    Column("reason", Text, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_model_approvals_model_version", "model_id", "version"),
)

# Who loaded which version, under which domain, from which run (lineage of the read).
model_reads = Table(
    "model_reads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("domain", String(64), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("node_id", Text, nullable=True),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_model_reads_model_version", "model_id", "version"),
    Index("ix_model_reads_run", "run_id"),
)
