"""The application interface's conformance suite: every case runs against each implementation.

``app`` is a :class:`mlstudio.app.interface.Studio` as alice (an admin): the local one on
SQLite, the local one on Postgres, and the HTTP client against a real ``mlstudio server``
process (Postgres, with its run driver and one ``mlstudio worker``). Local studios get a fresh
database per test; the server is shared by the module's tests, so cases use names of their own
(``app.ns``: a fresh namespace per test, created by the fixture).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlstudio.testing.databases import database_url
from mlstudio.testing.servers import Server, start_server

IMPLEMENTATIONS = ["local-sqlite", "local-postgres", "remote"]


@dataclass
class App:
    """A studio under test plus what a case needs to reach the same installation."""

    studio: Any
    kind: str
    ns: str
    tmp: Path
    as_user: Any  # as_user("bob") -> a studio acting as bob (registered by the case)
    artifacts: Path  # the artifact store's folder (to plant and age blobs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.studio, name)


@pytest.fixture(scope="module")
def conformance_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("conformance") / "home"
    home.mkdir(parents=True)
    with database_url("postgres", home) as url:
        server = start_server(home, url)
        worker = server.spawn("worker", "--concurrency", "2")
        try:
            yield server
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            server.stop()


def _local(kind: str, home: Path, url: str, user: str) -> Any:
    from mlstudio.app.local import LocalStudio
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings

    platform = Platform.open(Settings(home=home, database_url=url, user=user))
    return LocalStudio(platform, user, owns_platform=True)


@pytest.fixture(params=IMPLEMENTATIONS)
def app(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[App]:
    for key in ("MLSTUDIO_URL", "MLSTUDIO_TOKEN", "MLSTUDIO_ARTIFACT_URL"):
        monkeypatch.delenv(key, raising=False)
    ns = f"c{secrets.token_hex(4)}"
    opened: list[Any] = []
    if request.param == "remote":
        from mlstudio.client import Client

        server: Server = request.getfixturevalue("conformance_server")

        def as_user(user: str) -> Any:
            studio = Client(server.url, server.token(user))
            opened.append(studio)
            return studio

        studio = as_user("alice")
        studio.namespaces.create(ns)
        yield App(studio, request.param, ns, tmp_path, as_user, server.home / "artifacts")
    else:
        home = tmp_path / "home"
        home.mkdir()
        with database_url(request.param.split("-")[1], home, migrated=True) as url:

            def as_user(user: str) -> Any:
                studio = _local(request.param, home, url, user)
                opened.append(studio)
                return studio

            studio = as_user("alice")
            studio.namespaces.create(ns)
            try:
                yield App(studio, request.param, ns, tmp_path, as_user, home / "artifacts")
            finally:
                for s in opened:
                    s.close()
                opened.clear()
    for s in opened:
        s.close()
