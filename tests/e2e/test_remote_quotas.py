"""Namespace quotas over the API (``GET``/``PUT /api/v1/namespaces/{name}/quota``) and the CLI
against a real server: the same output and the same one-line errors as in embedded mode."""

from __future__ import annotations

from typing import Any

import pytest


def quota_events(server) -> list[dict[str, Any]]:
    shown = server.cli("audit", "--action", "namespace.quota", "--json")
    assert shown.code == 0, shown.stderr
    return shown.json


def test_the_cli_shows_and_sets_quotas_through_the_server(api_server):
    token = api_server.token()
    assert api_server.cli("namespace", "create", "qteam", "--json").code == 0
    shown = api_server.same("namespace", "quota", "qteam", token=token, human=True)
    assert (shown["max_running_runs"], shown["max_running_tasks"]) == (None, None)

    remote = api_server.cli("namespace", "quota", "qteam", "--runs", "3", "--json", token=token)
    assert remote.code == 0, remote.stderr
    assert (remote.json["max_running_runs"], remote.json["max_running_tasks"]) == (3, None)
    remote = api_server.cli("namespace", "quota", "qteam", "--tasks", "7", token=token)
    assert remote.code == 0, remote.stderr
    assert "namespace qteam: runs 0/3 running, tasks 0/7 claimed" in remote.stdout
    assert api_server.same("namespace", "quota", "qteam", token=token, human=True) == {
        "namespace": "qteam",
        "max_running_runs": 3,
        "max_running_tasks": 7,
        "running_runs": 0,
        "running_tasks": 0,
    }
    listed = api_server.same("namespace", "list", token=token, human=True)
    [row] = [r for r in listed if r["name"] == "qteam"]
    assert (row["max_running_runs"], row["max_running_tasks"]) == (3, 7)

    cleared = api_server.cli("namespace", "quota", "qteam", "--runs", "none", "--json", token=token)
    assert (cleared.json["max_running_runs"], cleared.json["max_running_tasks"]) == (None, 7)
    latest = quota_events(api_server)[0]
    assert (latest["actor"], latest["decision"]) == ("alice", "allow")
    assert latest["details"]["before"] == {"max_running_runs": 3, "max_running_tasks": 7}


def test_the_quota_endpoints_change_only_the_fields_given(api_server):
    api_server.cli("namespace", "create", "qhttp", "--json")
    with api_server.http(api_server.token()) as http:
        got = http.get("/api/v1/namespaces/qhttp/quota")
        assert got.status_code == 200, got.text
        assert got.json() == {
            "namespace": "qhttp",
            "max_running_runs": None,
            "max_running_tasks": None,
            "running_runs": 0,
            "running_tasks": 0,
        }
        put = http.put("/api/v1/namespaces/qhttp/quota", json={"max_running_tasks": 4})
        assert put.status_code == 200, put.text
        assert (put.json()["max_running_runs"], put.json()["max_running_tasks"]) == (None, 4)
        put = http.put("/api/v1/namespaces/qhttp/quota", json={"max_running_runs": 0})
        assert (put.json()["max_running_runs"], put.json()["max_running_tasks"]) == (0, 4)
        put = http.put("/api/v1/namespaces/qhttp/quota", json={"max_running_tasks": None})
        assert (put.json()["max_running_runs"], put.json()["max_running_tasks"]) == (0, None)
        assert http.get("/api/v1/namespaces/qhttp/quota").json() == put.json()
        [row] = [r for r in http.get("/api/v1/namespaces").json()["items"] if r["name"] == "qhttp"]
        assert (row["max_running_runs"], row["max_running_tasks"]) == (0, None)


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"max_running_runs": -2}, 400, "invalid_input", "invalid max_running_runs -2"),
        ({"max_running_runs": "3"}, 400, "invalid_input", "invalid request: body field"),
        ({"max_running_tasks": True}, 400, "invalid_input", "invalid request: body field"),
        ({"max_runs": 3}, 400, "invalid_input", "invalid request: body field max_runs"),
    ],
)
def test_a_bad_quota_body_is_refused_and_changes_nothing(api_server, body, status, code, message):
    api_server.cli("namespace", "create", "qbad", "--json")
    with api_server.http(api_server.token()) as http:
        http.put(
            "/api/v1/namespaces/qbad/quota", json={"max_running_runs": 1, "max_running_tasks": 2}
        ).raise_for_status()
        before = quota_events(api_server)
        refused = http.put("/api/v1/namespaces/qbad/quota", json=body)
        assert refused.status_code == status, refused.text
        error = refused.json()["error"]
        assert error["code"] == code and error["message"].startswith(message), error
        shown = http.get("/api/v1/namespaces/qbad/quota").json()
        assert (shown["max_running_runs"], shown["max_running_tasks"]) == (1, 2)
    assert quota_events(api_server) == before


@pytest.mark.parametrize(
    ("args", "user"),
    [
        (("namespace", "quota", "qnone"), "alice"),
        (("namespace", "quota", "qnone", "--runs", "1"), "alice"),
        (("namespace", "quota", "qerr", "--runs", "-1"), "alice"),
        (("namespace", "quota", "qerr", "--tasks", "lots"), "alice"),
        (("namespace", "quota", "qerr", "--runs", "5"), "erin"),
    ],
)
def test_quota_errors_read_the_same_locally_and_remotely(api_server, args, user):
    api_server.cli("namespace", "create", "qerr", "--json")
    if user != "alice":
        api_server.add_user(user)
    token = api_server.token(user)
    for extra in ((), ("--json",)):
        local = api_server.cli(*args, *extra, user=user)
        remote = api_server.cli(*args, *extra, token=token)
        assert local.code != 0, local.stdout
        assert local.stderr.startswith("error: ") and local.stderr.count("\n") == 1, local.stderr
        assert (remote.code, remote.stderr, remote.stdout) == (
            local.code,
            local.stderr,
            local.stdout,
        )
    shown = api_server.cli("namespace", "quota", "qerr", "--json").json
    assert (shown["max_running_runs"], shown["max_running_tasks"]) == (None, None)


def test_a_non_admin_is_refused_over_http_and_the_refusal_is_audited(api_server):
    api_server.cli("namespace", "create", "qdeny", "--json")
    api_server.add_user("frank")
    api_server.cli("namespace", "grant", "qdeny", "frank", "owner", "--json")
    with api_server.http(api_server.token("frank")) as http:
        refused = http.put("/api/v1/namespaces/qdeny/quota", json={"max_running_runs": 50})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["message"] == (
            "frank may not set the quotas of namespace qdeny: it needs the platform admin role"
        )
        assert http.get("/api/v1/namespaces/qdeny/quota").json()["max_running_runs"] is None
        assert http.get("/api/v1/namespaces/nowhere/quota").status_code == 404
    denied = [e for e in quota_events(api_server) if e["resource"] == "namespace:qdeny"]
    assert [(e["actor"], e["decision"]) for e in denied] == [("frank", "deny")]
