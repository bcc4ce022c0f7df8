"""Shared fixtures: a studio (home + database) on SQLite and on Postgres, and a CLI runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlstudio.testing.databases import database_url
from mlstudio.testing.flows import CliResult

BACKENDS = ["sqlite", "postgres"]


@dataclass
class Studio:
    """One isolated mlstudio installation; ``cli()`` runs the real CLI in-process."""

    home: Path
    database_url: str
    backend: str
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def env(self, user: str | None = None) -> dict[str, str]:
        env = {
            "MLSTUDIO_HOME": str(self.home),
            "MLSTUDIO_DATABASE_URL": self.database_url,
            "MLSTUDIO_USER": user or "alice",
        }
        return env

    def cli(self, *args: str, user: str | None = None) -> CliResult:
        from mlstudio.cli import context
        from mlstudio.cli.main import main

        for key, value in self.env(user).items():
            self.monkeypatch.setenv(key, value)
        context.reset()
        self.capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        finally:
            context.reset()
        out, err = self.capsys.readouterr()
        return CliResult(code, out, err)

    def ok(self, *args: str, user: str | None = None) -> Any:
        """Run with --json, assert success, return the parsed output."""
        result = self.cli(*args, "--json", user=user)
        assert result.code == 0, (
            f"mlstudio {' '.join(args)} failed ({result.code}): {result.stderr}"
        )
        return result.json

    def fails(self, *args: str, user: str | None = None, code: int | None = None) -> CliResult:
        result = self.cli(*args, "--json", user=user)
        assert result.code != 0, f"expected failure, got: {result.stdout}"
        if code is not None:
            assert result.code == code, f"exit {result.code} != {code}: {result.stderr}"
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
        return result

    def platform(self, user: str = "alice"):
        from mlstudio.platform import Platform
        from mlstudio.settings import Settings

        return Platform.open(Settings(home=self.home, database_url=self.database_url, user=user))

    @contextmanager
    def opened(self, user: str = "alice") -> Iterator[Any]:
        """``with studio.opened(user) as platform:``, closed at the end of the block."""
        platform = self.platform(user)
        try:
            yield platform
        finally:
            platform.close()


@pytest.fixture(params=BACKENDS)
def studio(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Studio]:
    """A fresh installation; runs once on SQLite and once on Postgres."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv("MLSTUDIO_URL", raising=False)
    monkeypatch.delenv("MLSTUDIO_TOKEN", raising=False)
    monkeypatch.delenv("MLSTUDIO_ARTIFACT_URL", raising=False)
    # module environments are slow to build: share their cache across tests
    monkeypatch.setenv(
        "UV_CACHE_DIR", os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    )
    with database_url(request.param, home, migrated=True) as url:
        yield Studio(home, url, request.param, monkeypatch, capsys)


@pytest.fixture
def platform(studio: Studio) -> Iterator[Any]:
    """``studio.platform()`` as alice, closed after the test."""
    with studio.opened() as p:
        yield p


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """``tests/optin`` runs only in its own tier (``bash .ci/genai-llm-tier`` sets
    ``MLSTUDIO_OPTIN=1``): its packages are not in the default install."""
    if collection_path.name == "optin" and os.environ.get("MLSTUDIO_OPTIN") != "1":
        return True
    return None
