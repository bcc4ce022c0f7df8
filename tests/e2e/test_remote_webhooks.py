"""Webhooks against a real ``mlstudio server``: the CLI prints the same remotely as embedded,
the API's errors and paging, and a server's own delivery loop posting signed events to a real
receiver for a run its worker executed."""

from __future__ import annotations

import json
import signal
from datetime import timedelta
from typing import Any

import httpx
import pytest

from mlstudio.core.clock import utcnow
from mlstudio.integrations.webhooks import emit, verify_signature
from mlstudio.testing.flows import wait_until
from mlstudio.testing.receivers import Receiver

API = "/api/v1"
DEADLINE_S = 180.0


def same_text(server: Any, *args: str, token: str) -> str:
    """The human output of ``mlstudio ARGS``, identical embedded and remotely."""
    wide = {"COLUMNS": "250"}
    local = server.cli(*args, env=wide)
    remote = server.cli(*args, token=token, env=wide)
    assert (local.code, remote.code) == (0, 0), (local.stderr, remote.stderr)
    assert remote.stdout == local.stdout
    return local.stdout


def emit_event(server: Any, event: str, data: dict[str, Any]) -> int:
    with server.platform().store.transaction() as uow:
        return emit(uow, event, data)


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and "\n" not in error["message"], error
    return error


def one_line(error: dict[str, Any]) -> str:
    """The CLI's stderr for an API error body."""
    hint = f" ({error['hint']})" if error.get("hint") else ""
    return f"error: {error['message']}{hint}\n"


# --- the CLI, both ways -----------------------------------------------------------------------
def test_webhook_commands_print_the_same_remotely(api_server):
    token = api_server.token()
    with Receiver(status=503) as receiver:
        added = api_server.cli(
            "webhook", "add", receiver.url, "-e", "run.succeeded", "-e", "tag.moved",
            "--json", token=token,
        )  # fmt: skip
        assert added.code == 0, added.stderr
        hook = added.json
        local = api_server.cli("webhook", "add", receiver.url, "-e", "run.failed", "--json")
        assert local.code == 0, local.stderr
        assert list(hook) == list(local.json)
        keys = ["id", "url", "events", "active", "created_by", "created_at", "secret"]
        assert list(hook) == keys
        assert (hook["events"], hook["created_by"]) == (["run.succeeded", "tag.moved"], "alice")
        assert hook["secret"].startswith("whsec_") and hook["secret"] != local.json["secret"]
        human = api_server.cli("webhook", "add", receiver.url, "-e", "*", token=token)
        assert human.code == 0 and "signing secret: whsec_" in human.stdout
        assert "not shown again" in human.stdout

        listed = api_server.same("webhook", "list", token=token)
        mine = {h["id"]: h for h in listed}[hook["id"]]
        assert "secret" not in mine
        assert mine["deliveries"] == {"pending": 0, "delivered": 0, "failed": 0}

        # two events; the first attempt gets a 503, then the receiver recovers
        assert emit_event(api_server, "run.succeeded", {"run_id": "run_1"}) == 2
        assert emit_event(api_server, "tag.moved", {"module": "a/b"}) == 2
        svc = api_server.platform().webhooks
        svc.deliver_once()
        receiver.status = 200
        later = utcnow() + timedelta(minutes=10)
        for _ in range(4):
            svc.deliver_once(later)

        log = api_server.same("webhook", "deliveries", hook["id"], token=token)
        assert [(d["event"], d["state"]) for d in log] == [
            ("tag.moved", "delivered"),
            ("run.succeeded", "delivered"),
        ]
        assert [d["attempts"] for d in log] == [1, 2]
        page = api_server.same(
            "webhook", "deliveries", hook["id"], "--limit", "1", "--offset", "1",
            token=token,
        )  # fmt: skip
        assert [d["id"] for d in page] == [log[1]["id"]]
        failed = api_server.same(
            "webhook", "deliveries", hook["id"], "--state", "failed", token=token
        )
        assert failed == []
        attempts = api_server.same("webhook", "attempts", str(log[1]["id"]), token=token)
        assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 503), (2, 200)]
        assert attempts[0]["error"].startswith("HTTP 503") and attempts[1]["error"] is None

        assert hook["id"] in same_text(api_server, "webhook", "list", token=token)
        text = same_text(api_server, "webhook", "deliveries", hook["id"], token=token)
        assert "tag.moved" in text and "delivered" in text
        text = same_text(api_server, "webhook", "attempts", str(log[1]["id"]), token=token)
        assert "503" in text and "200" in text and " ms" in text

        replayed = api_server.cli("webhook", "replay", str(log[1]["id"]), "--json", token=token)
        assert replayed.code == 0, replayed.stderr
        copy = replayed.json
        assert (copy["replay_of"], copy["state"], copy["attempts"]) == (log[1]["id"], "pending", 0)
        assert copy["event_id"] == log[1]["event_id"]
        again = api_server.cli("webhook", "replay", str(log[1]["id"]), token=token)
        assert again.code == 0 and f"delivery {log[1]['id']} queued again as" in again.stdout
        log = api_server.same("webhook", "deliveries", hook["id"], token=token)
        assert [d["state"] for d in log] == ["pending", "pending", "delivered", "delivered"]

        removed = api_server.cli("webhook", "remove", hook["id"], "--json", token=token)
        assert removed.code == 0, removed.stderr
        assert (removed.json["id"], removed.json["active"], removed.json["changed"]) == (
            hook["id"],
            False,
            True,
        )
        twice = api_server.cli("webhook", "remove", hook["id"], token=token)
        assert twice.code == 0 and "removed (already)" in twice.stdout
        assert hook["id"] not in {h["id"] for h in api_server.same("webhook", "list", token=token)}
        every = api_server.same("webhook", "list", "--all", token=token)
        assert {h["id"]: h["active"] for h in every}[hook["id"]] is False
    for other in listed:
        api_server.platform().webhooks.remove("alice", other["id"])


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("webhook", "deliveries", "whk_doesnotexist"), 3),
        (("webhook", "remove", "whk_doesnotexist"), 3),
        (("webhook", "attempts", "987654"), 3),
        (("webhook", "replay", "987654"), 3),
        (("webhook", "attempts", "abc"), 2),
        (("webhook", "deliveries", "whk_doesnotexist", "--state", "lost"), 2),
        (("webhook", "add", "ftp://example.com/x", "-e", "run.failed"), 2),
        (("webhook", "add", "http://example.com/x", "-e", "run.exploded"), 2),
        (("webhook", "add", "http://example.com/x", "-e", "run.failed", "--secret", "short"), 2),
    ],
)
def test_the_same_one_line_error_locally_and_remotely(api_server, args, code):
    token = api_server.token()
    local = api_server.cli(*args)
    remote = api_server.cli(*args, token=token)
    assert local.code == code and local.stderr.startswith("error: "), local.stderr
    assert local.stderr.count("\n") == 1
    assert (remote.code, remote.stderr) == (local.code, local.stderr)
    local_json = api_server.cli(*args, "--json")
    remote_json = api_server.cli(*args, "--json", token=token)
    assert remote_json.stdout == local_json.stdout


def test_non_admins_are_refused_with_the_clis_text(api_server):
    api_server.add_user("walter")
    walter = api_server.token("walter")
    admin = api_server.token()
    with api_server.http(admin) as http:
        created = http.post(
            f"{API}/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["*"]}
        )
        assert created.status_code == 201, created.text
        hook_id = created.json()["id"]
    emit_event(api_server, "run.failed", {"run_id": "run_w"})
    (delivery,) = api_server.platform().webhooks.deliveries("alice", hook_id)

    calls = [
        ("GET", f"{API}/webhooks", None, ("webhook", "list")),
        (
            "POST",
            f"{API}/webhooks",
            {"url": "http://127.0.0.1:9/h", "events": ["run.failed"]},
            ("webhook", "add", "http://127.0.0.1:9/h", "-e", "run.failed"),
        ),
        ("DELETE", f"{API}/webhooks/{hook_id}", None, ("webhook", "remove", hook_id)),
        (
            "GET",
            f"{API}/webhooks/{hook_id}/deliveries",
            None,
            ("webhook", "deliveries", hook_id),
        ),
        (
            "GET",
            f"{API}/webhooks/deliveries/{delivery['id']}/attempts",
            None,
            ("webhook", "attempts", str(delivery["id"])),
        ),
        (
            "POST",
            f"{API}/webhooks/deliveries/{delivery['id']}/replay",
            None,
            ("webhook", "replay", str(delivery["id"])),
        ),
    ]
    with api_server.http(walter) as http:
        for method, path, body, args in calls:
            error = error_of(http.request(method, path, json=body), 403, "permission_denied")
            assert error["message"].startswith("walter may not "), error
            local = api_server.cli(*args, user="walter")
            remote = api_server.cli(*args, token=walter)
            assert local.code == 4 and local.stderr == one_line(error)
            assert (remote.code, remote.stderr) == (local.code, local.stderr)
    # nothing changed
    (hook,) = [h for h in api_server.platform().webhooks.list("alice") if h["id"] == hook_id]
    assert hook["active"] is True
    assert len(api_server.platform().webhooks.deliveries("alice", hook_id)) == 1
    api_server.platform().webhooks.remove("alice", hook_id)


def test_api_errors_are_the_clis(api_server):
    token = api_server.token()
    with api_server.http(token) as http:
        for path, method in (
            ("/webhooks/whk_doesnotexist", "DELETE"),
            ("/webhooks/whk_doesnotexist/deliveries", "GET"),
            ("/webhooks/deliveries/987654/attempts", "GET"),
            ("/webhooks/deliveries/987654/replay", "POST"),
        ):
            error = error_of(http.request(method, f"{API}{path}"), 404, "not_found")
            assert "does not exist" in error["message"], error
        cli = api_server.cli("webhook", "remove", "whk_doesnotexist")
        error = error_of(http.delete(f"{API}/webhooks/whk_doesnotexist"), 404, "not_found")
        assert cli.stderr == one_line(error)

        bad_url = {"url": "ftp://example.com/x", "events": ["run.failed"]}
        error = error_of(http.post(f"{API}/webhooks", json=bad_url), 400, "invalid_input")
        cli = api_server.cli("webhook", "add", "ftp://example.com/x", "-e", "run.failed")
        assert cli.stderr == one_line(error)
        bad_event = {"url": "http://example.com/x", "events": ["run.exploded"]}
        error = error_of(http.post(f"{API}/webhooks", json=bad_event), 400, "invalid_input")
        assert error["message"] == "unknown webhook event 'run.exploded'"
        unknown = {"url": "http://example.com/x", "events": ["run.failed"], "colour": "red"}
        error = error_of(http.post(f"{API}/webhooks", json=unknown), 400, "invalid_input")
        assert "body field colour" in error["message"]
        error = error_of(http.post(f"{API}/webhooks", json={}), 400, "invalid_input")
        assert "url" in error["message"] and "events" in error["message"]
        error = error_of(http.get(f"{API}/webhooks/deliveries/abc/attempts"), 400, "invalid_input")
        assert error["message"] == "invalid delivery id 'abc'"
        error_of(http.get(f"{API}/webhooks", params={"limit": 0}), 400, "invalid_input")
        error_of(
            http.get(f"{API}/webhooks/x/deliveries", params={"offset": -1}), 400, "invalid_input"
        )
        # nothing was added by the refused requests
        assert all(
            h["url"] != "http://example.com/x"
            for h in api_server.platform().webhooks.list("alice", include_removed=True)
        )


def test_paging(api_server):
    token = api_server.token()
    with api_server.http(token) as http:
        ids = []
        for n in range(3):
            body = {"url": f"http://127.0.0.1:9/p{n}", "events": ["run.failed"]}
            created = http.post(f"{API}/webhooks", json=body)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        everything = http.get(f"{API}/webhooks", params={"limit": 1000}).json()["items"]
        first = http.get(f"{API}/webhooks", params={"limit": 2}).json()
        rest = http.get(f"{API}/webhooks", params={"limit": 2, "offset": 2}).json()
        assert (first["limit"], first["offset"], rest["offset"]) == (2, 0, 2)
        assert len(first["items"]) == 2
        assert first["items"] + rest["items"] == everything
        assert set(ids) <= {h["id"] for h in everything}

        for n in range(5):
            emit_event(api_server, "run.failed", {"run_id": f"run_{n}"})
        path = f"{API}/webhooks/{ids[0]}/deliveries"
        full = http.get(path).json()["items"]
        assert [d["payload"]["data"]["run_id"] for d in full] == [
            f"run_{n}" for n in range(4, -1, -1)
        ]
        page = http.get(path, params={"limit": 2, "offset": 1}).json()
        assert (page["limit"], page["offset"]) == (2, 1)
        assert [d["id"] for d in page["items"]] == [d["id"] for d in full[1:3]]
        pending = http.get(path, params={"state": "pending", "limit": 1}).json()["items"]
        assert [d["id"] for d in pending] == [full[0]["id"]]

        # three refused attempts on the head delivery (nothing listens on port 9)
        svc = api_server.platform().webhooks
        for minutes in (0, 10, 20):
            svc.deliver_once(utcnow() + timedelta(minutes=minutes))
        head = full[-1]["id"]
        attempts = http.get(f"{API}/webhooks/deliveries/{head}/attempts").json()
        assert [a["attempt"] for a in attempts["items"]] == [1, 2, 3]
        assert all(a["status"] is None and a["error"] for a in attempts["items"])
        page = http.get(
            f"{API}/webhooks/deliveries/{head}/attempts", params={"limit": 1, "offset": 1}
        ).json()
        assert [a["attempt"] for a in page["items"]] == [2]
        for hook_id in ids:
            assert http.delete(f"{API}/webhooks/{hook_id}").status_code == 200
        assert not {h["id"] for h in http.get(f"{API}/webhooks").json()["items"]} & set(ids)
        removed = http.get(f"{API}/webhooks", params={"include_removed": True}).json()["items"]
        assert set(ids) <= {h["id"] for h in removed}


# --- a server delivering for a run its worker executed ----------------------------------------
@pytest.mark.postgres
@pytest.mark.slow
def test_a_server_delivers_run_events_signed(server_factory, new_module):
    server = server_factory("postgres")  # with the background loops: runs and deliveries
    token = server.token()
    assert server.cli("namespace", "create", "hookns", "--json").code == 0
    pushed = server.cli("module", "push", new_module("hookns/mod"), "--no-tests", "--json")
    assert pushed.code == 0, pushed.stderr
    worker = server.spawn("worker", "--concurrency", "1")
    try:
        with Receiver() as receiver, server.http(token) as http:
            created = http.post(
                f"{API}/webhooks",
                json={"url": receiver.url, "events": ["run.started", "run.succeeded"]},
            )
            assert created.status_code == 201, created.text
            hook = created.json()
            started = http.post(
                f"{API}/workflows/hookns/mod/flow:latestAlpha/runs", json={"params": {"x": 21}}
            )
            assert started.status_code == 202, started.text
            run_id = started.json()["id"]

            wait_until(
                lambda: receiver.events() == ["run.started", "run.succeeded"],
                f"run.started and run.succeeded at the receiver (got {receiver.events()})",
                DEADLINE_S,
            )
            shown = http.get(f"{API}/runs/{run_id}").json()
            assert (shown["state"], shown["output_value"]) == ("succeeded", 42)
            for request in receiver.received:
                h = request["headers"]
                assert verify_signature(
                    hook["secret"], h["X-Mlstudio-Timestamp"], request["body"],
                    h["X-Mlstudio-Signature"],
                )  # fmt: skip
                body = json.loads(request["body"])
                assert body["data"]["run_id"] == run_id
                assert h["X-Mlstudio-Delivery"] == body["delivery_id"]
            assert json.loads(receiver.received[1]["body"])["data"]["state"] == "succeeded"

            path = f"{API}/webhooks/{hook['id']}/deliveries"

            def recorded() -> list[dict[str, Any]] | None:
                items = http.get(path).json()["items"]
                done = len(items) == 2 and all(d["state"] == "delivered" for d in items)
                return items if done else None

            log = wait_until(recorded, "both deliveries to be recorded as delivered", DEADLINE_S)
            for delivery in log:
                attempts = http.get(f"{API}/webhooks/deliveries/{delivery['id']}/attempts")
                (attempt,) = attempts.json()["items"]
                assert (attempt["attempt"], attempt["status"]) == (1, 200)
                assert attempt["sent_by"].endswith(f":{server.proc.pid}")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
