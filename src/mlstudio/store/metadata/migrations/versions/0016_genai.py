"""GenAI: prompts and their aliases, batch inference items, budgets and their ledger, fine-tuning checkpoints

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "genai_budgets",
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("usd", sa.Float(), nullable=False),
        sa.Column("period_s", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("namespace", name=op.f("pk_genai_budgets")),
    )
    op.create_table(
        "genai_checkpoints",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_genai_checkpoints")),
    )
    op.create_table(
        "genai_items",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("output", JSON_TYPE, nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("node_id", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_genai_items")),
    )
    op.create_index(
        "ix_genai_items_namespace", "genai_items", ["namespace", "created_at"], unique=False
    )
    op.create_index("ix_genai_items_run_id", "genai_items", ["run_id"], unique=False)
    op.create_table(
        "genai_ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("usd", sa.Float(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("node_id", sa.String(length=256), nullable=True),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_genai_ledger")),
    )
    op.create_index(
        "ix_genai_ledger_namespace", "genai_ledger", ["namespace", "created_at"], unique=False
    )
    op.create_index("ix_genai_ledger_run_id", "genai_ledger", ["run_id"], unique=False)
    op.create_table(
        "prompt_aliases",
        sa.Column("module", sa.String(length=129), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("module_version", sa.Integer(), nullable=False),
        sa.Column("report", JSON_TYPE, nullable=True),
        sa.Column("spec", JSON_TYPE, nullable=True),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("module", "alias", name=op.f("pk_prompt_aliases")),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("module", sa.String(length=129), nullable=False),
        sa.Column("module_version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("spec", JSON_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_versions")),
        sa.UniqueConstraint(
            "module",
            "module_version",
            "name",
            name=op.f("uq_prompt_versions_module_module_version_name"),
        ),
    )


def downgrade() -> None:
    op.drop_table("prompt_versions")
    op.drop_table("prompt_aliases")
    op.drop_index("ix_genai_ledger_run_id", table_name="genai_ledger")
    op.drop_index("ix_genai_ledger_namespace", table_name="genai_ledger")
    op.drop_table("genai_ledger")
    op.drop_index("ix_genai_items_run_id", table_name="genai_items")
    op.drop_index("ix_genai_items_namespace", table_name="genai_items")
    op.drop_table("genai_items")
    op.drop_table("genai_checkpoints")
    op.drop_table("genai_budgets")
