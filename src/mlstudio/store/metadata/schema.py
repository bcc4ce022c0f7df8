"""Bring a database to the current schema with the one Alembic history (SQLite and Postgres)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from mlstudio.errors import ConfigurationError, StoreUnavailableError

# The newest revision in migrations/versions; a test checks that it matches Alembic's head.
SCHEMA_HEAD = "0016"
_MIGRATIONS = Path(__file__).with_name("migrations")
_UPGRADE_LOCK = 0x6D6C7374  # "mlst": the advisory lock key of schema upgrades


def current_revision(engine: Engine) -> str | None:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        with engine.connect().execution_options(mlstudio_readonly=True) as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except (OperationalError, ProgrammingError) as exc:
                if "alembic_version" not in str(exc):
                    raise
                return None  # an empty database
    except Exception as exc:  # driver-specific connection errors
        raise StoreUnavailableError(
            f"cannot reach the metadata database: {str(exc).splitlines()[0]}",
            hint="check MLSTUDIO_DATABASE_URL and that the database is running",
        ) from exc


def upgrade(engine: Engine) -> None:
    """Run every pending migration (cheap no-op when already at head)."""
    if current_revision(engine) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _MIGRATIONS.as_posix())
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Processes that open a fresh database at once (a server, its workers, a CLI) take
            # turns; the later ones then find the schema current and change nothing. SQLite
            # transactions already begin IMMEDIATE, which serializes them the same way.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_UPGRADE_LOCK})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    found = current_revision(engine)
    if found != SCHEMA_HEAD:
        raise ConfigurationError(
            f"database schema is at {found}, this mlstudio expects {SCHEMA_HEAD}",
            hint="upgrade mlstudio to the version that wrote this database",
        )


def alembic_head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", _MIGRATIONS.as_posix())
    return ScriptDirectory.from_config(cfg).get_current_head()
