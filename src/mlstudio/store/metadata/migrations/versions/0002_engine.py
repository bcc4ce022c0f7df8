"""engine: runs, task runs, cache entries

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("output", JSON_TYPE, nullable=False),
        sa.Column("workflow", sa.Text(), nullable=False),
        sa.Column("module", sa.String(length=160), nullable=True),
        sa.Column("task", sa.String(length=128), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_hit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_cache_entries")),
    )
    op.create_index("ix_cache_entries_workflow", "cache_entries", ["workflow"], unique=False)
    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workflow", sa.Text(), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("params", JSON_TYPE, nullable=False),
        sa.Column("plan", JSON_TYPE, nullable=False),
        sa.Column("lock", JSON_TYPE, nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("executor", sa.String(length=16), nullable=False),
        sa.Column("no_cache", sa.Boolean(), nullable=False),
        sa.Column("fail_fast", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("output", JSON_TYPE, nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("engine_id", sa.String(length=64), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parent_run_id", sa.String(length=40), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"], unique=False)
    op.create_index("ix_runs_state", "runs", ["state"], unique=False)
    op.create_index("ix_runs_workflow", "runs", ["workflow"], unique=False)
    op.create_table(
        "task_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("node_id", sa.Text(), nullable=False),
        sa.Column("task", sa.String(length=128), nullable=False),
        sa.Column("module", sa.String(length=160), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("cache_components", JSON_TYPE, nullable=True),
        sa.Column("output", JSON_TYPE, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("logs", JSON_TYPE, nullable=True),
        sa.Column("parent_node", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_task_runs_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_runs")),
        sa.UniqueConstraint("run_id", "node_id", name=op.f("uq_task_runs_run_id_node_id")),
    )
    op.create_index("ix_task_runs_run_id_state", "task_runs", ["run_id", "state"], unique=False)
    op.create_index("ix_task_runs_task", "task_runs", ["task"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_task_runs_task", table_name="task_runs")
    op.drop_index("ix_task_runs_run_id_state", table_name="task_runs")
    op.drop_table("task_runs")
    op.drop_index("ix_runs_workflow", table_name="runs")
    op.drop_index("ix_runs_state", table_name="runs")
    op.drop_index("ix_runs_created_at", table_name="runs")
    op.drop_table("runs")
    op.drop_index("ix_cache_entries_workflow", table_name="cache_entries")
    op.drop_table("cache_entries")
