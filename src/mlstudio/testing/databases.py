"""Throwaway databases for tests: a SQLite file, or a fresh Postgres database per test.

``database_url(..., migrated=True)`` hands out a copy of a database that this process migrated
once (a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for Postgres), so a test does not
pay for the whole migration history again; the schema is the one ``schema.upgrade`` writes.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

_templates: dict[str, str] = {}  # backend -> migrated SQLite file path or Postgres database name
_templates_lock = threading.Lock()


def postgres_admin_url() -> str:
    return os.environ.get("MLSTUDIO_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _migrate(url: str) -> None:
    from sqlalchemy import create_engine

    from mlstudio.store.metadata import schema

    engine = create_engine(url)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()


def _sqlite_template() -> str:
    with _templates_lock:
        if "sqlite" not in _templates:
            folder = tempfile.mkdtemp(prefix="mlstudio-template-")
            atexit.register(shutil.rmtree, folder, True)
            path = Path(folder) / "studio.db"
            _migrate(f"sqlite:///{path.as_posix()}")
            _templates["sqlite"] = str(path)
        return _templates["sqlite"]


def _drop_postgres(name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception:  # the server may be gone at exit; the name is unique, nothing reuses it
        pass
    finally:
        admin.dispose()


def _postgres_template() -> str:
    with _templates_lock:
        if "postgres" not in _templates:
            from sqlalchemy.engine import make_url

            name = _create_postgres(None)
            _templates["postgres"] = name
            atexit.register(_drop_postgres, name)
            url = make_url(postgres_admin_url()).set(database=name)
            _migrate(url.render_as_string(hide_password=False))
        return _templates["postgres"]


def _create_postgres(template: str | None) -> str:
    from sqlalchemy import create_engine, text

    name = f"mlstudio_{'test' if template else 'template'}_{secrets.token_hex(6)}"
    clause = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    finally:
        admin.dispose()
    return name


@contextmanager
def fresh_postgres_database(*, migrated: bool = False) -> Iterator[str]:
    """Create a database (empty, or at the schema head with ``migrated``), yield its URL,
    drop it afterwards."""
    from sqlalchemy.engine import make_url

    template = _postgres_template() if migrated else None
    name = _create_postgres(template)
    try:
        yield (
            make_url(postgres_admin_url()).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        _drop_postgres(name)


@contextmanager
def database_url(kind: str, home: Path, *, migrated: bool = False) -> Iterator[str]:
    if kind == "sqlite":
        path = home / "studio.db"
        if migrated and not path.exists():
            shutil.copyfile(_sqlite_template(), path)
        yield f"sqlite:///{path.as_posix()}"
    elif kind == "postgres":
        with fresh_postgres_database(migrated=migrated) as url:
            yield url
    else:
        raise ValueError(kind)
