"""pinned runs; deleted module and dataset versions (their numbers are never reused)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_pins",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("pinned_by", sa.String(length=128), nullable=False),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_pins")),
    )
    op.create_table(
        "deleted_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=129), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("deleted_by", sa.String(length=128), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deleted_versions")),
        sa.UniqueConstraint(
            "kind", "name", "version", name=op.f("uq_deleted_versions_kind_name_version")
        ),
    )
    op.create_index("ix_deleted_versions_name", "deleted_versions", ["kind", "name"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_deleted_versions_name", table_name="deleted_versions")
    op.drop_table("deleted_versions")
    op.drop_table("run_pins")
