"""Bounded API inputs: what schemathesis found as 500s is a 400 naming the field, on both
backends (a real request through FastAPI's TestClient), and names never hold control characters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

HUGE = 2**63  # past every backend's INTEGER and Postgres' bigint


def write_app(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "module.toml").write_text(
        '[module]\nname = "team/app"\ndescription = "an app"\nowners = ["alice"]\n'
    )
    (folder / "tasks.py").write_text(
        "from mlstudio import task, workflow\n\n@task\ndef hello() -> str:\n    return 'hi'\n\n"
        "@workflow\ndef main() -> str:\n    return hello()\n"
    )
    return folder


@pytest.fixture
def client(studio) -> Iterator[TestClient]:
    studio.ok("namespace", "create", "team")
    with studio.opened() as platform:
        from mlstudio.api.app import create_app

        _record, token = platform.tokens.create("alice")
        with TestClient(create_app(platform)) as http:
            http.headers["Authorization"] = f"Bearer {token}"
            yield http


def refused(response: Any, *needles: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] in ("invalid_input", "invalid_name"), error
    for needle in needles:
        assert needle in error["message"], error
    return error


@pytest.mark.parametrize("path", ["/api/v1/modules", "/api/v1/runs", "/api/v1/schedules"])
def test_a_huge_offset_is_a_400_not_a_database_overflow(client, path):
    refused(client.get(path, params={"offset": HUGE}), "offset")
    refused(client.get(path, params={"offset": 2**31}), "offset")
    assert client.get(path, params={"offset": 2**31 - 1}).json()["items"] == []


def test_cache_clear_bounds_the_age(client, studio):
    for days in (1e308, 36501, HUGE):
        refused(client.post("/api/v1/cache/clear", json={"older_than_days": days}), "36500")
    refused(client.post("/api/v1/cache/clear", json={"older_than_days": "1"}), "older_than")
    assert client.post("/api/v1/cache/clear", json={"older_than_days": 36500}).status_code == 200
    # the service itself (what the CLI calls) refuses it too, with the same bound
    failed = studio.fails("cache", "clear", "--older-than-days", "1e12", code=2)
    assert "36500" in failed.stderr


def test_other_numbers_are_bounded(client, studio):
    quota = {"max_running_runs": HUGE}
    refused(client.put("/api/v1/namespaces/team/quota", json=quota), "at most 2147483647")
    refused(client.post("/api/v1/modules/team/app/promote", json={"version": HUGE}))
    refused(client.put("/api/v1/modules/team/app/tags/stable", json={"version": HUGE}))
    refused(client.post("/api/v1/tokens", json={"ttl_days": 1e308}), "ttl_days")
    body = {"priority": HUGE}
    refused(client.post("/api/v1/workflows/team/app/main/runs", json=body), "priority")
    # the services bound them too: the CLI gets a one-line error, not an overflow
    failed = studio.fails("namespace", "quota", "team", "--runs", str(HUGE), code=2)
    assert "at most 2147483647" in failed.stderr
    studio.ok("module", "push", write_app(studio.home.parent / "app"), "--no-tests")
    failed = studio.fails("module", "promote", "team/app", str(HUGE), code=3)
    assert "does not exist" in failed.stderr


def test_a_nul_byte_in_an_uploaded_file_name_is_refused(client, studio):
    csv = b"id,plan\n1,pro\n"
    boundary = "mlstudio-boundary"
    form = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="cust\x00omers.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + csv
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.post(
        "/api/v1/datasets",
        params={"name": "team/customers"},
        content=form,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    refused(response, "file name", "control character")
    response = client.post(
        "/api/v1/datasets",
        params={"name": "team/customers", "filename": "a\x00.csv"},
        content=csv,
        headers={"Content-Type": "text/csv"},
    )
    refused(response, "control character")
    assert studio.ok("data", "list") == []


def test_a_nul_byte_anywhere_in_a_body_is_refused(client):
    refused(client.post("/api/v1/namespaces", json={"name": "x", "description": "a\x00b"}), "NUL")
    body = {"params": {"name": ["ok", "x\x00"]}}
    refused(client.post("/api/v1/workflows/team/app/main/runs", json=body), "params.name[1]")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/runs/run_%00x",
        "/api/v1/schedules/sch_%00x",
        "/api/v1/runs/run_%00x/logs",
        "/api/v1/tokens/tok_%00",
        "/api/v1/modules/team/a%00b",
        "/api/v1/users/bob%00/disable",
    ],
)
def test_a_nul_byte_in_a_path_is_never_a_server_error(client, path):
    method = "POST" if path.endswith("disable") else "DELETE" if "tokens" in path else "GET"
    response = client.request(method, path)
    assert response.status_code in (400, 404), response.text


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("namespace", "create", "churn\n"), "namespace"),
        (("user", "add", "bob\n"), "user name"),
        (("user", "add", "bo\x01b"), "user name"),
        (("domain", "set", "staging\n"), "domain name"),
        (("module", "tag", "team/app", "stable\n", "1"), "tag name"),
        (("data", "show", "team/a\nb"), "dataset name"),
    ],
)
def test_names_with_control_characters_are_refused(studio, args, what):
    studio.ok("namespace", "create", "team")
    failed = studio.fails(*args, code=2)
    assert f"invalid {what}" in failed.stderr and "control character" in failed.stderr
    assert [n["name"] for n in studio.ok("namespace", "list")] == ["team"]
    assert {u["name"] for u in studio.ok("user", "list")} == {"alice"}


def test_a_webhook_url_with_a_control_character_is_refused(studio):
    failed = studio.fails("webhook", "add", "http://127.0.0.1/a\r\nb", "--event", "run.failed")
    assert failed.code == 2 and "invalid webhook URL" in failed.stderr
    assert studio.ok("webhook", "list") == []


def test_a_nul_byte_in_a_query_parameter_a_route_validates_is_a_400(client):
    """schemathesis (seed 4): DELETE /users/{name}/grants/{role}?namespace=%00 was a 500."""
    response = client.delete("/api/v1/users/bob/grants/reader", params={"namespace": "\x00x"})
    refused(response, "control character")  # the one name validator names it
