"""The registry through a real server: the same CLI commands with MLSTUDIO_URL, and the
Client's governed download (refused before any byte is sent)."""

from __future__ import annotations

import pytest

from mlstudio.client import Client
from mlstudio.errors import NotFoundError, PermissionDeniedError, PolicyViolationError


def test_models_through_the_server(server_factory):
    server = server_factory("sqlite", "--no-workers")
    server.add_user("bob", "steward")
    registry = server.platform().registry
    registry.create_model("alice", "remote-model")
    registry.create_version("alice", "remote-model", "s3://bucket/r1")
    alice, bob = server.token("alice"), server.token("bob")
    with Client(server.url, alice) as studio:
        assert [m["name"] for m in studio.models.list()] == ["remote-model"]
        with pytest.raises(PolicyViolationError):
            studio.models.alias("remote-model", "champion", 1)
        with pytest.raises(NotFoundError):
            studio.models.alias("remote-model", "dev", 5)
        with pytest.raises(PermissionDeniedError):
            studio.models.approve("remote-model", 1, "mine")
    with Client(server.url, bob) as studio:
        assert studio.models.approve("remote-model", 1, "ok")["approval"]["state"] == "approved"
    with Client(server.url, alice) as studio:
        assert studio.models.alias("remote-model", "champion", 1)["moved"] is True
        shown = studio.models.show("remote-model@champion")
        assert shown["selected"]["version"] == 1
        assert [e["to_version"] for e in shown["alias_history"]] == [1]
        # registered through MLflow, unclassified: refused in adhoc before anything is sent
        with pytest.raises(PolicyViolationError):
            studio.models.download("remote-model@champion", domain="adhoc")
    cli = server.same("model", "show", "remote-model@champion", token=alice)
    assert cli["selected"]["approval"]["by"] == "bob"
