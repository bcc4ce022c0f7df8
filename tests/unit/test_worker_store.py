"""The store a worker process's tasks belong to (executors.store): handed by the executor that
started the process, else what its environment named before it dropped its credentials."""

from __future__ import annotations

import pytest

from mlstudio.settings import Settings
from mlstudio.workflows.executors import store


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(store, "_HANDED", [None])
    monkeypatch.setattr(store, "_REMEMBERED", [None])
    for key in ("MLSTUDIO_DATABASE_URL", "MLSTUDIO_ARTIFACT_URL"):
        monkeypatch.delenv(key, raising=False)


PG = "postgresql+psycopg://u@db.example:5432/studio"


def test_a_handed_store_wins_over_the_environment(tmp_path, monkeypatch):
    engine = Settings(home=tmp_path / "engine-home", database_url=PG)
    store.hand(store.address_of(engine))
    monkeypatch.setenv("MLSTUDIO_DATABASE_URL", "sqlite:///elsewhere.db")
    settings = store.run_settings()
    assert settings.resolved_database_url == PG
    assert settings.home == tmp_path / "engine-home"
    assert settings.resolved_artifact_url == engine.resolved_artifact_url


def test_the_environment_is_remembered_before_the_credentials_are_dropped(monkeypatch):
    monkeypatch.setenv("MLSTUDIO_DATABASE_URL", PG)
    store.remember_environment()
    monkeypatch.delenv("MLSTUDIO_DATABASE_URL")  # what drop_credentials does
    assert store.run_settings().resolved_database_url == PG


def test_an_environment_naming_a_database_again_is_used_over_a_remembered_one(monkeypatch):
    monkeypatch.setenv("MLSTUDIO_DATABASE_URL", PG)
    store.remember_environment()
    monkeypatch.setenv("MLSTUDIO_DATABASE_URL", "sqlite:////tmp/other/studio.db")
    assert store.run_settings().resolved_database_url == "sqlite:////tmp/other/studio.db"


def test_with_nothing_handed_or_remembered_the_defaults_apply(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSTUDIO_HOME", str(tmp_path))
    assert store.address() is None
    assert store.run_settings().resolved_database_url == f"sqlite:///{tmp_path}/studio.db"


def test_drop_credentials_remembers_the_store_first(monkeypatch):
    from mlstudio.workflows import sandbox

    monkeypatch.setattr(sandbox, "_DROPPED", [False])
    monkeypatch.setenv("MLSTUDIO_DATABASE_URL", PG)
    monkeypatch.setenv("MLSTUDIO_TOKEN", "secret")
    sandbox.drop_credentials()
    import os

    assert "MLSTUDIO_DATABASE_URL" not in os.environ and "MLSTUDIO_TOKEN" not in os.environ
    assert store.run_settings().resolved_database_url == PG
