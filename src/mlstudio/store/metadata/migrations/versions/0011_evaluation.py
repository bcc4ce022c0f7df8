"""evaluation: evaluations with their reports, evaluation gates on model aliases

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dataset", sa.String(length=129), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=False),
        sa.Column("candidates", JSON_TYPE, nullable=False),
        sa.Column("metrics", JSON_TYPE, nullable=False),
        sa.Column("margin", sa.Float(), nullable=False),
        sa.Column("report", JSON_TYPE, nullable=False),
        sa.Column("scores", sa.String(length=160), nullable=True),
        sa.Column("tracking_run", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
    )
    op.create_index(
        "ix_evaluations_dataset", "evaluations", ["dataset", "created_at"], unique=False
    )
    op.create_table(
        "model_alias_gates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("spec", JSON_TYPE, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name=op.f("fk_model_alias_gates_model_id_registered_models"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_alias_gates")),
        sa.UniqueConstraint("model_id", "alias", name=op.f("uq_model_alias_gates_model_id_alias")),
    )


def downgrade() -> None:
    op.drop_table("model_alias_gates")
    op.drop_index("ix_evaluations_dataset", table_name="evaluations")
    op.drop_table("evaluations")
