"""Draft the next Alembic migration from the table definitions (a developer tool).

Usage: python scripts/draft_migration.py REVISION DOWN_REVISION "message" > FILE
It diffs ``metadata`` against a throwaway SQLite upgraded to DOWN_REVISION and prints a
migration file that uses only portable types. Review it before committing.
"""

import sys

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from mlstudio.store.metadata import schema
from mlstudio.store.metadata.tables import metadata

revision, down, message = sys.argv[1], (sys.argv[2] if sys.argv[2] != "None" else None), sys.argv[3]
engine = create_engine("sqlite://")
if down:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", schema._MIGRATIONS.as_posix())
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, down)
with engine.connect() as conn:
    ctx = MigrationContext.configure(conn, opts={"target_metadata": metadata})
    ops = produce_migrations(ctx, metadata)
    up = render_python_code(ops.upgrade_ops)
    dn = render_python_code(ops.downgrade_ops)


def portable(code: str) -> str:
    code = code.replace(
        "mlstudio.store.metadata.tables._base.UtcDateTime(timezone=True)",
        "sa.DateTime(timezone=True)",
    )
    code = code.replace(
        "sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')", "JSON_TYPE"
    )
    code = code.replace("mlstudio.store.metadata.tables._base.Json()", "JSON_TYPE")
    lines = [ln for ln in code.splitlines() if "### " not in ln]
    return "\n".join(lines)


print(f'''"""{message}

Revision ID: {revision}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "{revision}"
down_revision = {down!r}
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
{portable(up)}


def downgrade() -> None:
{portable(dn)}
''')
