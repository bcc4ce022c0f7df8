"""Fixtures over real ``mlstudio server`` processes (see :mod:`mlstudio.testing.servers`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlstudio.testing.databases import database_url
from mlstudio.testing.servers import Server, clean_env, start_server

__all__ = ["Server", "clean_env", "start_server"]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    """``server_factory(backend="sqlite", *options)``: servers stopped at the end of the test.

    ``server_factory(like=server)`` starts another server on ``server``'s database and home
    (a restart after ``server`` was killed, or a second server beside it)."""
    started: list[Server] = []
    stack: list[Any] = []

    def make(backend: str = "sqlite", *options: str, like: Server | None = None) -> Server:
        if like is not None:
            server = start_server(like.home, like.database_url, *options)
            started.append(server)
            return server
        home = tmp_path / f"home-{len(started)}"
        home.mkdir()
        context = database_url(backend, home, migrated=True)
        url = context.__enter__()
        stack.append(context)
        server = start_server(home, url, *options)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One SQLite server per test module: API only (no background loops), 64 KiB uploads."""
    home = tmp_path_factory.mktemp("api") / "home"
    server = start_server(
        home,
        f"sqlite:///{(home / 'studio.db').as_posix()}",
        "--no-workers",
        "--max-upload-mb",
        "0.0625",
    )
    yield server
    server.stop()


# --- modules to push ----------------------------------------------------------------------------
TASKS = """
from mlstudio import task, workflow


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def flow(x: int = 1) -> int:
    return double(x)
"""


def write_module(root: Path, name: str) -> Path:
    """A minimal module folder ``NS/NAME`` with one task and one workflow ``flow``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text(
        f'[module]\nname = "{name}"\ndescription = "e2e {name}"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    return root


@pytest.fixture
def new_module(tmp_path: Path) -> Any:
    """``new_module("NS/NAME")``: a module folder to push (workflow ``flow``, task ``double``)."""

    def make(name: str) -> Path:
        return write_module(tmp_path / "modules" / name.replace("/", "-"), name)

    return make
