"""governance: tokens, domains, datasets, declassifiers

Revision ID: 0003
Revises: 0002
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


# The built-in domains as they were defined when this revision was written.
DEFAULT_DOMAINS = [
    {
        "name": "experimentation",
        "clearance": "confidential",
        "readable_labels": None,
        "denied_labels": ["pii"],
        "pseudonymous_readable": True,
        "readable_domains": ["experimentation", "production"],
        "may_persist": True,
        "promoted_only": False,
        "description": "research and model development: up to confidential, no identifying pii (hashed pii is fine)",
    },
    {
        "name": "production",
        "clearance": "restricted",
        "readable_labels": None,
        "denied_labels": [],
        "pseudonymous_readable": False,
        "readable_domains": ["production"],
        "may_persist": True,
        "promoted_only": True,
        "description": "scheduled production pipelines: promoted module versions only, may read everything, reads production data only",
    },
    {
        "name": "adhoc",
        "clearance": "internal",
        "readable_labels": [],
        "denied_labels": [],
        "pseudonymous_readable": False,
        "readable_domains": None,
        "may_persist": False,
        "promoted_only": False,
        "description": "quick exploration: up to internal, no labelled data, outputs are not persisted",
    },
]


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_name"), "api_tokens", ["user_name"], unique=False)
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=129), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("columns", JSON_TYPE, nullable=False),
        sa.Column("source", JSON_TYPE, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("full_name", "version", name=op.f("uq_datasets_full_name_version")),
    )
    op.create_index(op.f("ix_datasets_namespace"), "datasets", ["namespace"], unique=False)
    op.create_table(
        "declassifiers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("module", sa.String(length=129), nullable=False),
        sa.Column("task", sa.String(length=128), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("columns", JSON_TYPE, nullable=False),
        sa.Column("lower_to", sa.String(length=16), nullable=True),
        sa.Column("remove_labels", JSON_TYPE, nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declassifiers")),
    )
    op.create_index(
        "ix_declassifiers_module_task", "declassifiers", ["module", "task"], unique=False
    )
    op.create_table(
        "domains",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("policy", JSON_TYPE, nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_domains")),
    )

    domains_table = sa.table(
        "domains",
        sa.column("name", sa.String),
        sa.column("policy", JSON_TYPE),
        sa.column("updated_by", sa.String),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        domains_table,
        [
            {"name": p["name"], "policy": p, "updated_by": "mlstudio", "updated_at": now}
            for p in DEFAULT_DOMAINS
        ],
    )


def downgrade() -> None:
    op.drop_table("domains")
    op.drop_index("ix_declassifiers_module_task", table_name="declassifiers")
    op.drop_table("declassifiers")
    op.drop_index(op.f("ix_datasets_namespace"), table_name="datasets")
    op.drop_table("datasets")
    op.drop_index(op.f("ix_api_tokens_user_name"), table_name="api_tokens")
    op.drop_table("api_tokens")
