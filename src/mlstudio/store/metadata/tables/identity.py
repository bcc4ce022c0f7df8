from sqlalchemy import Boolean, Column, Integer, String, Table, UniqueConstraint

from mlstudio.store.metadata.tables._base import UtcDateTime, metadata

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(128), nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
)

# One row per grant: role `admin` on scope ("platform", ""), `owner` on ("namespace", "churn"),
# `runner` on ("domain", "production"), `steward` on ("platform", "").
role_grants = Table(
    "role_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_name", String(128), nullable=False, index=True),
    Column("role", String(32), nullable=False),
    Column("scope_kind", String(16), nullable=False),
    Column("scope", String(128), nullable=False, default=""),
    Column("granted_by", String(128), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("user_name", "role", "scope_kind", "scope"),
)
