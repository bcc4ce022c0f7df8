"""Feature flags: what serving processes (and any OpenFeature client) evaluate on every request.
A flag's row is its whole definition; ``revision`` counts its changes."""

from sqlalchemy import Boolean, Column, Integer, String, Table, Text

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

feature_flags = Table(
    "feature_flags",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("namespace", String(64), nullable=True),  # its owners and maintainers manage it
    Column("kind", String(16), nullable=False),  # boolean | string | number | object
    Column("enabled", Boolean, nullable=False),
    Column("variants", Json(), nullable=False),  # name -> value
    Column("default_variant", String(64), nullable=False),
    Column("rules", Json(), nullable=False),  # [{"attribute", "in": [...], "variant"}]
    Column("split", Json(), nullable=True),  # [{"variant", "weight"}] by a sticky hash
    Column("salt", String(32), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("revision", Integer, nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
