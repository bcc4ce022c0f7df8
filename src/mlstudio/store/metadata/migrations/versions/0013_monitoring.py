"""monitoring: monitors, windows, alerts, feedback

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
depends_on = None


def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["monitor_id"], ["monitors.id"], name=op.f(f"fk_{table}_monitor_id_monitors")
    )


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=129), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=160), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("spec", JSON_TYPE, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("name", name=op.f("uq_monitors_name")),
    )
    op.create_table(
        "monitor_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.String(length=32), nullable=False),
        sa.Column("check_name", sa.String(length=200), nullable=False),
        sa.Column("window_key", sa.String(length=32), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("slice", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", JSON_TYPE, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        _fk("monitor_windows"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_windows")),
        sa.UniqueConstraint(
            "monitor_id",
            "check_name",
            "window_key",
            "slice",
            name=op.f("uq_monitor_windows_monitor_id_check_name_window_key_slice"),
        ),
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("monitor_id", sa.String(length=32), nullable=False),
        sa.Column("check_name", sa.String(length=200), nullable=False),
        sa.Column("slice", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("open_key", sa.String(length=710), nullable=True),
        sa.Column("first_window", sa.String(length=32), nullable=False),
        sa.Column("last_window", sa.String(length=32), nullable=False),
        sa.Column("windows", sa.Integer(), nullable=False),
        sa.Column("evidence", JSON_TYPE, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        _fk("monitor_alerts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_alerts")),
        sa.UniqueConstraint(
            "monitor_id", "open_key", name=op.f("uq_monitor_alerts_monitor_id_open_key")
        ),
    )
    op.create_index(
        "ix_monitor_alerts_monitor", "monitor_alerts", ["monitor_id", "opened_at"], unique=False
    )
    op.create_table(
        "monitor_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=200), nullable=True),
        sa.Column("dims", JSON_TYPE, nullable=False),
        sa.Column("start_window", sa.String(length=32), nullable=False),
        sa.Column("end_window", sa.String(length=32), nullable=False),
        sa.Column("given_at", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("monitor_feedback"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_feedback")),
    )


def downgrade() -> None:
    op.drop_table("monitor_feedback")
    op.drop_index("ix_monitor_alerts_monitor", table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_table("monitor_windows")
    op.drop_table("monitors")
