"""read sets: the files a task read, on task runs and cache entries

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("cache_entries", sa.Column("read_set", JSON_TYPE, nullable=True))
    op.add_column("task_runs", sa.Column("read_set", JSON_TYPE, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_runs") as batch:
        batch.drop_column("read_set")
    with op.batch_alter_table("cache_entries") as batch:
        batch.drop_column("read_set")
