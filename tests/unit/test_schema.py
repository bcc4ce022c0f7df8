"""The one Alembic history: its head is the schema the code expects, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from mlstudio.store.metadata import schema
from mlstudio.store.metadata.engine import make_engine
from mlstudio.store.metadata.tables import metadata
from mlstudio.testing.databases import fresh_postgres_database


def test_schema_head_is_the_alembic_head():
    assert schema.alembic_head() == schema.SCHEMA_HEAD


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{(tmp_path / 'db' / 'studio.db').as_posix()}")
        yield eng
        eng.dispose()
    else:
        with fresh_postgres_database() as url:
            eng = make_engine(url)
            yield eng
            eng.dispose()


def run_alembic_upgrade(eng: Engine) -> None:
    """Alembic's own upgrade, bypassing the at-head shortcut in ``schema.upgrade``."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", (Path(schema.__file__).parent / "migrations").as_posix())
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def test_upgrade_creates_every_table_and_is_idempotent(engine):
    assert schema.current_revision(engine) is None

    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.SCHEMA_HEAD
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO namespaces (name, description, created_by, created_at) "
                "VALUES ('churn', '', 'alice', CURRENT_TIMESTAMP)"
            )
        )
    schema.upgrade(engine)  # the cheap path
    run_alembic_upgrade(engine)  # and Alembic itself, at head: no-ops that keep the data
    assert schema.current_revision(engine) == schema.SCHEMA_HEAD
    assert set(inspect(engine).get_table_names()) == tables
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM namespaces")).scalars().all() == ["churn"]
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert versions == [schema.SCHEMA_HEAD]


def test_migrations_match_the_table_definitions(engine):
    """Autogenerate finds nothing to add: the history and ``tables/`` describe one schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    schema.upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_concurrent_first_upgrades_of_one_postgres_database_all_succeed():
    """A server, its workers and a CLI may open a fresh database at the same moment."""
    import threading

    from mlstudio.store.metadata import schema
    from mlstudio.store.metadata.engine import make_engine
    from mlstudio.testing.databases import fresh_postgres_database

    with fresh_postgres_database() as url:
        engines = [make_engine(url) for _ in range(4)]
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(engines))

        def upgrade(engine) -> None:
            try:
                barrier.wait(timeout=30)
                schema.upgrade(engine)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=upgrade, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        try:
            assert errors == []
            assert {schema.current_revision(e) for e in engines} == {schema.SCHEMA_HEAD}
        finally:
            for e in engines:
                e.dispose()
