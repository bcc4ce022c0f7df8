"""Tables of the feature store: immutable feature view versions, who used which version, and
materializations to the online stores (their watermarks make the next one incremental)."""

from sqlalchemy import Column, Index, Integer, String, Table, UniqueConstraint

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

# One row per version of a feature view ``NS/NAME``; a version never changes (a changed
# definition pushed in a module is the next version).
feature_views = Table(
    "feature_views",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("full_name", String(129), nullable=False),
    Column("namespace", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("spec", Json, nullable=False),
    Column("module", String(129), nullable=False),  # NS/MODULE that defines it
    Column("module_version", Integer, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("full_name", "version"),
    Index("ix_feature_views_namespace", "namespace"),
)

# A consumer (a saved training set, a model version) pinned to the view versions it used.
feature_usages = Table(
    "feature_usages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("full_name", String(129), nullable=False),
    Column("version", Integer, nullable=False),
    Column("consumer", String(256), nullable=False),
    Column("features", Json, nullable=False),
    Column("used_by", String(128), nullable=False),
    Column("used_at", UtcDateTime, nullable=False),
    Index("ix_feature_usages_full_name", "full_name", "version"),
)

# One row per materialization of a view version into an online store.
feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("full_name", String(129), nullable=False),
    Column("version", Integer, nullable=False),
    Column("store", String(64), nullable=False),
    Column("watermark", UtcDateTime, nullable=True),  # newest knowledge time written
    Column("rows", Integer, nullable=False),
    Column("keys", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Index("ix_feature_materializations_view", "full_name", "version", "store"),
)
