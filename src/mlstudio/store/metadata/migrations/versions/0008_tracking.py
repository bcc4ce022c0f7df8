"""experiment tracking: experiments, tracked runs, params, tags, metrics, artifacts, logged models

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    from sqlalchemy.dialects import postgresql

    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _bigint_id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "tracking_experiments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=16), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_experiments")),
        sa.UniqueConstraint("name", name=op.f("uq_tracking_experiments_name")),
    )
    op.create_table(
        "tracking_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("user", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("lifecycle_stage", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("workflow_run_id", sa.String(length=40), nullable=True),
        sa.Column("node_id", sa.Text(), nullable=True),
        sa.Column("task_run_id", sa.Integer(), nullable=True),
        sa.Column("domain", sa.String(length=64), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("produced_by", sa.String(length=40), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_runs")),
    )
    op.create_index(
        "ix_tracking_runs_experiment_start", "tracking_runs", ["experiment_id", "start_time"]
    )
    op.create_index("ix_tracking_runs_workflow_run", "tracking_runs", ["workflow_run_id"])
    op.create_index("ix_tracking_runs_cache_key", "tracking_runs", ["cache_key"])
    op.create_table(
        "tracking_params",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_tracking_params")),
    )
    op.create_index("ix_tracking_params_key_value", "tracking_params", ["key", "run_id"])
    op.create_table(
        "tracking_tags",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_tracking_tags")),
    )
    op.create_table(
        "tracking_metrics",
        sa.Column("id", _bigint_id(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("is_nan", sa.Boolean(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_metrics")),
    )
    op.create_index(
        "ix_tracking_metrics_run_key_step", "tracking_metrics", ["run_id", "key", "step"]
    )
    op.create_table(
        "tracking_latest_metrics",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("is_nan", sa.Boolean(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_tracking_latest_metrics")),
    )
    op.create_index(
        "ix_tracking_latest_metrics_key_value", "tracking_latest_metrics", ["key", "value"]
    )
    op.create_table(
        "tracking_artifacts",
        sa.Column("owner", sa.String(length=40), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("owner", "path", name=op.f("pk_tracking_artifacts")),
    )
    op.create_table(
        "tracking_logged_models",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("source_run_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("model_type", sa.String(length=128), nullable=True),
        sa.Column("params", _json(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_logged_models")),
    )
    op.create_index("ix_tracking_logged_models_run", "tracking_logged_models", ["source_run_id"])
    op.create_index(
        "ix_tracking_logged_models_experiment", "tracking_logged_models", ["experiment_id"]
    )


def downgrade() -> None:
    for table in (
        "tracking_logged_models",
        "tracking_artifacts",
        "tracking_latest_metrics",
        "tracking_metrics",
        "tracking_tags",
        "tracking_params",
        "tracking_runs",
        "tracking_experiments",
    ):
        op.drop_table(table)
