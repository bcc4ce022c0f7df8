"""the installation's id (prefixes keys in shared external stores)

Revision ID: 0015
Revises: 0014
"""

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "installation",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )
    op.bulk_insert(table, [{"id": secrets.token_hex(8), "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("installation")
