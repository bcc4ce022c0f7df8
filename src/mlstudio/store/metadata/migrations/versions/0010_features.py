"""feature store: feature view versions, usages, materializations

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_views",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("full_name", sa.String(length=129), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("spec", JSON_TYPE, nullable=False),
        sa.Column("module", sa.String(length=129), nullable=False),
        sa.Column("module_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_views")),
        sa.UniqueConstraint(
            "full_name", "version", name=op.f("uq_feature_views_full_name_version")
        ),
    )
    op.create_index("ix_feature_views_namespace", "feature_views", ["namespace"], unique=False)
    op.create_table(
        "feature_usages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("full_name", sa.String(length=129), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("consumer", sa.String(length=256), nullable=False),
        sa.Column("features", JSON_TYPE, nullable=False),
        sa.Column("used_by", sa.String(length=128), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_usages")),
    )
    op.create_index(
        "ix_feature_usages_full_name", "feature_usages", ["full_name", "version"], unique=False
    )
    op.create_table(
        "feature_materializations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("full_name", sa.String(length=129), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("keys", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_materializations")),
    )
    op.create_index(
        "ix_feature_materializations_view",
        "feature_materializations",
        ["full_name", "version", "store"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_feature_materializations_view", table_name="feature_materializations")
    op.drop_table("feature_materializations")
    op.drop_index("ix_feature_usages_full_name", table_name="feature_usages")
    op.drop_table("feature_usages")
    op.drop_index("ix_feature_views_namespace", table_name="feature_views")
    op.drop_table("feature_views")
