"""quotas per namespace; one row per webhook delivery attempt; run indexes for queue counts

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_attempts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("delivery_id", BIG_ID, nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("sent_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(
        "ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id", "attempt"], unique=False
    )
    with op.batch_alter_table("namespaces") as batch:
        batch.add_column(sa.Column("max_running_runs", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_running_tasks", sa.Integer(), nullable=True))
    # "why is my run waiting" and the driver count runs by (state, priority) and (namespace, state)
    op.drop_index("ix_runs_state", table_name="runs")
    op.create_index("ix_runs_state_priority", "runs", ["state", "priority"], unique=False)
    op.create_index("ix_runs_namespace_state", "runs", ["namespace", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_runs_namespace_state", table_name="runs")
    op.drop_index("ix_runs_state_priority", table_name="runs")
    op.create_index("ix_runs_state", "runs", ["state"], unique=False)
    with op.batch_alter_table("namespaces") as batch:
        batch.drop_column("max_running_tasks")
        batch.drop_column("max_running_runs")
    op.drop_index("ix_webhook_attempts_delivery", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
