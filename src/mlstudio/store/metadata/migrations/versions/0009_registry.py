"""the model registry: registered models, versions, aliases and their history, approvals, reads

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def _model_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["model_id"], ["registered_models.id"], name=op.f(f"fk_{table}_model_id_registered_models")
    )


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("protected_aliases", JSON_TYPE, nullable=False),
        sa.Column("tags", JSON_TYPE, nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registered_models")),
        sa.UniqueConstraint("name", name=op.f("uq_registered_models_name")),
    )
    op.create_table(
        "registered_model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("artifact", JSON_TYPE, nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("node_id", sa.Text(), nullable=True),
        sa.Column("task", sa.String(length=128), nullable=True),
        sa.Column("module", sa.String(length=160), nullable=True),
        sa.Column("lineage", JSON_TYPE, nullable=False),
        sa.Column("classification", JSON_TYPE, nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", JSON_TYPE, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        _model_fk("registered_model_versions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registered_model_versions")),
        sa.UniqueConstraint(
            "model_id", "version", name=op.f("uq_registered_model_versions_model_id_version")
        ),
    )
    op.create_table(
        "model_aliases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        _model_fk("model_aliases"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_aliases")),
        sa.UniqueConstraint("model_id", "alias", name=op.f("uq_model_aliases_model_id_alias")),
    )
    op.create_table(
        "model_alias_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", TIME, nullable=False),
        _model_fk("model_alias_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_alias_events")),
    )
    op.create_index(
        "ix_model_alias_events_model_alias_at", "model_alias_events", ["model_id", "alias", "at"]
    )
    op.create_table(
        "model_approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", TIME, nullable=False),
        _model_fk("model_approvals"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_approvals")),
    )
    op.create_index("ix_model_approvals_model_version", "model_approvals", ["model_id", "version"])
    op.create_table(
        "model_reads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("node_id", sa.Text(), nullable=True),
        sa.Column("at", TIME, nullable=False),
        _model_fk("model_reads"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_reads")),
    )
    op.create_index("ix_model_reads_model_version", "model_reads", ["model_id", "version"])
    op.create_index("ix_model_reads_run", "model_reads", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_model_reads_run", table_name="model_reads")
    op.drop_index("ix_model_reads_model_version", table_name="model_reads")
    op.drop_table("model_reads")
    op.drop_index("ix_model_approvals_model_version", table_name="model_approvals")
    op.drop_table("model_approvals")
    op.drop_index("ix_model_alias_events_model_alias_at", table_name="model_alias_events")
    op.drop_table("model_alias_events")
    op.drop_table("model_aliases")
    op.drop_table("registered_model_versions")
    op.drop_table("registered_models")
