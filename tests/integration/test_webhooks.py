"""Outbound webhooks on SQLite and Postgres, delivered to a real local HTTP receiver.

Deliveries are driven by calling ``WebhookService.deliver_once(now)`` with a chosen ``now`` (the
server's loop calls it with the wall clock), so backoff is exercised without waiting for it; the
HTTP requests, signatures and the receiver are real.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mlstudio.core.clock import utcnow
from mlstudio.errors import StateError
from mlstudio.integrations.webhooks import (
    EVENTS,
    WebhookService,
    emit,
    sign,
    verify_signature,
)
from mlstudio.testing.flows import wait_until, working_copy
from mlstudio.testing.receivers import Receiver, free_port


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def emit_now(platform, event: str, data: dict[str, Any]) -> int:
    with platform.store.transaction() as uow:
        return emit(uow, event, data)


def assert_signed(request: dict[str, Any], secret: str) -> None:
    h = request["headers"]
    assert verify_signature(
        secret, h["X-Mlstudio-Timestamp"], request["body"], h["X-Mlstudio-Signature"]
    )
    body = json.loads(request["body"])
    assert h["X-Mlstudio-Event"] == body["event"]
    assert h["X-Mlstudio-Delivery"] == body["delivery_id"]
    assert h["Content-Type"] == "application/json"


# --- signing ----------------------------------------------------------------------------------
def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(b"s3cret-s3cret-s3cret", b"1700000000." + body, hashlib.sha256)
    header = sign("s3cret-s3cret-s3cret", 1700000000, body)
    assert header == "sha256=" + expected.hexdigest()
    ok = {"tolerance_s": 300, "now": 1700000100}
    assert verify_signature("s3cret-s3cret-s3cret", "1700000000", body, header, **ok)
    assert verify_signature("s3cret-s3cret-s3cret", "1700000000", body.decode(), header, **ok)
    assert not verify_signature("other-secret-value", "1700000000", body, header, **ok)
    assert not verify_signature("s3cret-s3cret-s3cret", "1700000000", b'{"a":2}', header, **ok)
    assert not verify_signature("s3cret-s3cret-s3cret", "1700000001", body, header, **ok)
    assert not verify_signature("s3cret-s3cret-s3cret", "junk", body, header, **ok)
    assert not verify_signature("s3cret-s3cret-s3cret", "1700000000", body, "md5=x", **ok)
    # too old (a captured request replayed later)
    late = {"tolerance_s": 300, "now": 1700000000 + 301}
    assert not verify_signature("s3cret-s3cret-s3cret", "1700000000", body, header, **late)


# --- delivery ---------------------------------------------------------------------------------
def test_delivery_to_a_real_receiver_is_signed_and_logged(studio, receiver):
    p = studio.platform()
    svc = WebhookService(p.store)
    hook = svc.subscribe("alice", receiver.url, ["run.succeeded", "tag.moved"])
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 30
    assert emit_now(p, "run.succeeded", {"run_id": "run_1", "workflow": "a/b/c"}) == 1
    assert emit_now(p, "run.failed", {"run_id": "run_2"}) == 0  # not subscribed

    (outcome,) = svc.deliver_once()
    assert outcome["state"] == "delivered" and outcome["status"] == 200
    (request,) = receiver.received
    assert request["path"] == "/hooks"
    assert_signed(request, hook["secret"])
    body = json.loads(request["body"])
    assert body["event"] == "run.succeeded" and body["data"]["run_id"] == "run_1"
    assert body["event_id"].startswith("evt_") and body["occurred_at"].endswith("Z")
    assert svc.deliver_once() == []  # nothing left

    (log,) = svc.deliveries("alice", hook["id"])
    assert log["state"] == "delivered" and log["attempts"] == 1 and log["last_status"] == 200
    assert log["last_latency_ms"] is not None and log["delivered_at"]
    assert "secret" not in json.dumps(svc.list("alice"))


def test_a_receiver_down_for_a_while_gets_everything_later_in_order(studio, receiver):
    """Connection refused, then 503s, then up: every event arrives once, in order, and the
    webhook whose receiver was fine all along was not held back."""
    p = studio.platform()
    svc = WebhookService(p.store, backoff_base_s=10, backoff_cap_s=40)
    down = Receiver(port=free_port())
    flaky = svc.subscribe("alice", down.url, ["run.succeeded"])
    healthy = svc.subscribe("alice", receiver.url, ["run.succeeded"])
    for n in range(3):
        assert emit_now(p, "run.succeeded", {"n": n}) == 2

    t0 = utcnow()
    first = svc.deliver_once(t0)
    by_hook = {o["webhook_id"]: o for o in first}
    assert by_hook[healthy["id"]]["state"] == "delivered"
    assert by_hook[flaky["id"]]["state"] == "pending"
    assert "ConnectError" in by_hook[flaky["id"]]["error"]
    for _ in range(2):
        assert [o["webhook_id"] for o in svc.deliver_once(t0)] == [healthy["id"]]
    assert [b["data"]["n"] for b in receiver.bodies()] == [0, 1, 2]

    assert svc.deliver_once(t0 + timedelta(seconds=9)) == []  # backing off: 10 s
    assert svc.deliver_once(t0 + timedelta(seconds=10))[0]["attempt"] == 2
    down.status = 503
    down.start()  # up, but failing
    try:
        assert svc.deliver_once(t0 + timedelta(seconds=29)) == []  # then 20 s
        third = svc.deliver_once(t0 + timedelta(seconds=30))
        assert third[0]["status"] == 503 and third[0]["attempt"] == 3
        (head, *_rest) = svc.deliveries("alice", flaky["id"])[::-1]
        assert head["attempts"] == 3 and head["last_status"] == 503
        assert head["last_error"].startswith("HTTP 503") and head["state"] == "pending"

        down.status = 200  # recovered
        assert svc.deliver_once(t0 + timedelta(seconds=69)) == []  # capped at 40 s
        later = t0 + timedelta(seconds=70)
        sent = [svc.deliver_once(later) for _ in range(4)]
        assert [len(s) for s in sent] == [1, 1, 1, 0]
        bodies = down.bodies()
        assert [b["data"]["n"] for b in bodies] == [0, 0, 1, 2]  # the 503 one, then in order
        for r in down.received:
            assert_signed(r, flaky["secret"])
        ids = [int(b["delivery_id"]) for b in bodies[1:]]
        assert ids == sorted(ids)
    finally:
        down.stop()

    log = svc.deliveries("alice", flaky["id"])[::-1]
    assert [d["state"] for d in log] == ["delivered"] * 3
    assert [d["attempts"] for d in log] == [4, 1, 1]
    assert log[0]["last_status"] == 200 and log[0]["last_error"] is None
    hooks = {h["id"]: h for h in svc.list("alice")}
    assert hooks[flaky["id"]]["deliveries"] == {"pending": 0, "delivered": 3, "failed": 0}


def test_replay_resends_with_the_same_event_id(studio, receiver):
    p = studio.platform()
    svc = WebhookService(p.store)
    hook = svc.subscribe("alice", receiver.url, ["*"])
    emit_now(p, "tag.moved", {"module": "team/app", "tag": "latest", "to_version": 2})
    svc.deliver_once()
    (original,) = svc.deliveries("alice", hook["id"])
    copy = svc.replay("alice", original["id"])
    assert copy["replay_of"] == original["id"] and copy["id"] != original["id"]
    assert copy["state"] == "pending" and copy["event_id"] == original["event_id"]
    (outcome,) = svc.deliver_once()
    assert outcome["delivery_id"] == copy["id"] and outcome["state"] == "delivered"
    first, second = receiver.bodies()
    assert second["replay_of"] == str(original["id"])
    assert second["event_id"] == first["event_id"] and second["data"] == first["data"]
    assert second["delivery_id"] != first["delivery_id"]
    assert_signed(receiver.received[1], hook["secret"])


def test_give_up_policy_marks_failed_and_unblocks_the_queue(studio, receiver):
    p = studio.platform()
    svc = WebhookService(p.store, backoff_base_s=1, give_up_after=2)
    port = free_port()
    hook = svc.subscribe("alice", f"http://127.0.0.1:{port}/x", ["run.failed"])
    emit_now(p, "run.failed", {"n": 0})
    emit_now(p, "run.failed", {"n": 1})
    t0 = utcnow()
    assert svc.deliver_once(t0)[0]["state"] == "pending"
    gave_up = svc.deliver_once(t0 + timedelta(seconds=1))
    assert gave_up[0]["state"] == "failed" and gave_up[0]["attempt"] == 2
    # the next delivery is now the head
    assert svc.deliver_once(t0 + timedelta(seconds=1))[0]["attempt"] == 1
    states = [d["state"] for d in svc.deliveries("alice", hook["id"])[::-1]]
    assert states == ["failed", "pending"]
    assert svc.deliveries("alice", hook["id"], state="failed")[0]["attempts"] == 2


def test_redirects_are_not_followed(studio):
    p = studio.platform()
    svc = WebhookService(p.store)
    moved = Receiver(status=301).start()
    try:
        svc.subscribe("alice", moved.url, ["run.started"])
        emit_now(p, "run.started", {})
        (outcome,) = svc.deliver_once()
        assert outcome["status"] == 301 and "redirects are not followed" in outcome["error"]
    finally:
        moved.stop()


def test_two_deliverers_post_each_delivery_once(studio):
    slow = Receiver(delay_s=0.2).start()
    try:
        p1, p2 = studio.platform(), studio.platform()
        a, b = WebhookService(p1.store), WebhookService(p2.store)
        a.subscribe("alice", slow.url, ["run.succeeded"])
        for n in range(4):
            emit_now(p1, "run.succeeded", {"n": n})
        barrier = threading.Barrier(2)

        def drain(svc: WebhookService) -> None:
            barrier.wait()
            for _ in range(12):
                svc.deliver_once()

        threads = [threading.Thread(target=drain, args=(s,)) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert [b["data"]["n"] for b in slow.bodies()] == [0, 1, 2, 3]
    finally:
        slow.stop()


def test_the_outbox_commits_with_the_change_or_not_at_all(studio, receiver):
    p = studio.platform()
    svc = WebhookService(p.store)
    hook = svc.subscribe("alice", receiver.url, ["run.succeeded"])
    with pytest.raises(RuntimeError), p.store.transaction() as uow:
        emit(uow, "run.succeeded", {"n": 1})
        raise RuntimeError("the state change failed")
    assert svc.deliveries("alice", hook["id"]) == []
    svc.remove("alice", hook["id"])
    assert emit_now(p, "run.succeeded", {"n": 2}) == 0  # removed webhooks get nothing


# --- events from the engine and the registry --------------------------------------------------
def test_runs_emit_started_and_their_outcome(studio, tmp_path, receiver):
    wf = working_copy(tmp_path)
    p = studio.platform()
    svc = WebhookService(p.store)
    hook = svc.subscribe("alice", receiver.url, list(EVENTS))
    good = p.runs.submit("alice", wf, {"name": "x"})
    assert p.runs.execute(good.id).state == "succeeded"
    bad = p.runs.submit("alice", wf, {"name": "boom"})
    assert p.runs.execute(bad.id).state == "failed"
    while svc.deliver_once():
        pass
    got = [(b["event"], b["data"]["run_id"], b["data"]["state"]) for b in receiver.bodies()]
    assert got == [
        ("run.started", good.id, "running"),
        ("run.succeeded", good.id, "succeeded"),
        ("run.started", bad.id, "running"),
        ("run.failed", bad.id, "failed"),
    ]
    failed = receiver.bodies()[-1]["data"]
    assert "boom" in failed["error"] and failed["params"] == {"name": "boom"}
    assert failed["finished_at"] and failed["workflow"].endswith("flow.py:greet")
    for r in receiver.received:
        assert_signed(r, hook["secret"])


APP_MANIFEST = '[module]\nname = "team/app"\ndescription = "an app"\nowners = ["alice"]\n'
APP_TASKS = """
from mlstudio import task, workflow

@task
def hello(name: str = "world") -> str:
    return "hello {version}"

@workflow
def main(name: str = "world") -> str:
    return hello(name)
"""
APP_TEST = "from tasks import hello\n\ndef test_hello():\n    assert hello('x')\n"


def push_app(studio, folder: Path, version: int) -> None:
    (folder / "tests").mkdir(parents=True, exist_ok=True)
    (folder / "module.toml").write_text(APP_MANIFEST)
    (folder / "tasks.py").write_text(APP_TASKS.format(version=version))
    (folder / "tests" / "test_tasks.py").write_text(APP_TEST)
    assert studio.ok("module", "push", folder)["version"] == version


def test_tag_moves_are_events(studio, tmp_path, receiver):
    p = studio.platform()
    svc = WebhookService(p.store)
    svc.subscribe("alice", receiver.url, ["tag.moved"])
    studio.ok("namespace", "create", "team")
    push_app(studio, tmp_path / "app", 1)
    studio.ok("module", "promote", "team/app", "1")
    push_app(studio, tmp_path / "app", 2)
    studio.ok("module", "tag", "team/app", "latest", "2")
    studio.ok("module", "tag", "team/app", "latest", "2")  # no move, no event
    studio.ok("module", "rollback", "team/app")
    while svc.deliver_once():
        pass
    moves = [
        (d["tag"], d["from_version"], d["to_version"], d["action"])
        for d in (b["data"] for b in receiver.bodies())
    ]
    assert moves == [
        ("latestAlpha", None, 1, "push"),
        ("latest", None, 1, "promote"),
        ("latestAlpha", 1, 2, "push"),
        ("latest", 1, 2, "tag"),
        ("latest", 2, 1, "rollback"),
    ]
    assert all(b["data"]["module"] == "team/app" for b in receiver.bodies())


# --- the CLI ----------------------------------------------------------------------------------
def test_cli_add_list_deliveries_replay_remove(studio, receiver):
    hook = studio.ok("webhook", "add", receiver.url, "--event", "run.succeeded", "-e", "tag.moved")
    assert hook["events"] == ["run.succeeded", "tag.moved"] and hook["secret"]
    p = studio.platform()
    emit_now(p, "run.succeeded", {"run_id": "run_x"})
    WebhookService(p.store).deliver_once()
    (listed,) = studio.ok("webhook", "list")
    assert listed["id"] == hook["id"] and "secret" not in listed
    assert listed["deliveries"] == {"pending": 0, "delivered": 1, "failed": 0}
    (log,) = studio.ok("webhook", "deliveries", hook["id"])
    assert log["state"] == "delivered" and log["attempts"] == 1
    copy = studio.ok("webhook", "replay", str(log["id"]))
    assert copy["replay_of"] == log["id"]
    assert len(studio.ok("webhook", "deliveries", hook["id"], "--state", "pending")) == 1
    assert studio.ok("webhook", "remove", hook["id"])["active"] is False
    assert studio.ok("webhook", "list") == []
    assert studio.ok("webhook", "list", "--all")[0]["active"] is False
    studio.fails("webhook", "replay", str(log["id"]), code=5)  # its webhook was removed
    actions = {e["action"] for e in studio.ok("audit", "--action", "webhook")}
    assert actions == {"webhook.add", "webhook.replay", "webhook.remove"}


def test_cli_bad_input_and_non_admins(studio, receiver):
    r = studio.fails("webhook", "add", "ftp://example.com/x", "--event", "run.failed", code=2)
    assert "http:// or https://" in r.stderr
    r = studio.fails("webhook", "add", receiver.url, "--event", "run.exploded", code=2)
    assert "run.started" in r.stderr
    studio.fails("webhook", "add", receiver.url, "--event", "run.failed", "--secret", "short")
    studio.fails("webhook", "deliveries", "whk_nope", code=3)
    studio.fails("webhook", "replay", "12345", code=3)
    studio.fails("webhook", "replay", "abc", code=2)
    studio.ok("user", "add", "bob")
    studio.fails("webhook", "add", receiver.url, "--event", "run.failed", user="bob", code=4)
    studio.fails("webhook", "list", user="bob", code=4)
    assert studio.ok("webhook", "list") == []


# --- the attempt log --------------------------------------------------------------------------
def test_every_attempt_is_logged_with_its_outcome(studio):
    """Refused, then 503, then 200: three attempt rows, the delivery's last_* summarize the
    last one, and a purge of settled deliveries takes their attempts along."""
    import os

    p = studio.platform()
    svc = WebhookService(p.store, backoff_base_s=10, backoff_cap_s=40)
    down = Receiver(port=free_port())
    hook = svc.subscribe("alice", down.url, ["run.failed"])
    emit_now(p, "run.failed", {"run_id": "run_1"})
    t0 = utcnow()
    assert svc.deliver_once(t0)[0]["state"] == "pending"  # connection refused
    (delivery,) = svc.deliveries("alice", hook["id"])
    assert [a["attempt"] for a in svc.attempts("alice", delivery["id"])] == [1]
    down.status = 503
    down.start()
    try:
        assert svc.deliver_once(t0 + timedelta(seconds=10))[0]["status"] == 503
        down.status = 200
        assert svc.deliver_once(t0 + timedelta(seconds=30))[0]["state"] == "delivered"
    finally:
        down.stop()

    attempts = svc.attempts("alice", str(delivery["id"]))
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status"] for a in attempts] == [None, 503, 200]
    assert "ConnectError" in attempts[0]["error"]
    assert attempts[1]["error"].startswith("HTTP 503") and attempts[2]["error"] is None
    me = f"{socket.gethostname()}:{os.getpid()}"
    for a in attempts:
        assert a["delivery_id"] == delivery["id"] and a["webhook_id"] == hook["id"]
        assert a["latency_ms"] is not None and a["latency_ms"] >= 0
        assert a["sent_by"] == me and a["started_at"].endswith("Z")
    assert attempts[0]["started_at"] <= attempts[1]["started_at"] <= attempts[2]["started_at"]
    (summary,) = svc.deliveries("alice", hook["id"])
    assert (summary["attempts"], summary["last_status"], summary["last_error"]) == (3, 200, None)
    assert summary["last_latency_ms"] == attempts[2]["latency_ms"]

    emit_now(p, "run.failed", {"run_id": "run_2"})  # pending: a purge keeps it
    with p.store.transaction() as uow:
        assert uow.webhooks.purge(timedelta(0)) == 1
    (left,) = svc.deliveries("alice", hook["id"])
    assert left["state"] == "pending"
    with p.store.read() as uow:
        assert uow.webhooks.attempts(delivery["id"]) == []


def test_the_attempt_log_commits_with_the_outcome(studio, receiver, monkeypatch):
    """An attempt whose outcome fails to commit leaves neither its summary nor its log row."""
    p = studio.platform()
    svc = WebhookService(p.store)
    hook = svc.subscribe("alice", receiver.url, ["run.failed"])
    emit_now(p, "run.failed", {"run_id": "run_1"})
    from mlstudio.store.metadata.repositories.webhooks import WebhookRepository

    def broken(self: Any, values: dict[str, Any]) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(WebhookRepository, "log_attempt", broken)
    with pytest.raises(RuntimeError):
        svc.deliver_once()
    monkeypatch.undo()
    (delivery,) = svc.deliveries("alice", hook["id"])
    assert (delivery["state"], delivery["attempts"]) == ("pending", 0)
    assert svc.attempts("alice", delivery["id"]) == []


def test_cli_attempts(studio, receiver):
    hook = studio.ok("webhook", "add", receiver.url, "--event", "run.succeeded")
    p = studio.platform()
    emit_now(p, "run.succeeded", {"run_id": "run_x"})
    (log,) = studio.ok("webhook", "deliveries", hook["id"])
    assert studio.ok("webhook", "attempts", str(log["id"])) == []
    assert "no attempts yet" in studio.cli("webhook", "attempts", str(log["id"])).stdout
    WebhookService(p.store).deliver_once()
    (attempt,) = studio.ok("webhook", "attempts", str(log["id"]))
    assert (attempt["attempt"], attempt["status"], attempt["error"]) == (1, 200, None)
    human = studio.cli("webhook", "attempts", str(log["id"]))
    assert human.code == 0
    for column in ("attempt", "started", "status", "latency", "error", "200", " ms"):
        assert column in human.stdout
    assert "no deliveries" not in human.stdout
    studio.fails("webhook", "attempts", "987654", code=3)
    assert "invalid delivery id" in studio.fails("webhook", "attempts", "abc", code=2).stderr
    studio.ok("user", "add", "bob")
    studio.fails("webhook", "attempts", str(log["id"]), user="bob", code=4)


# --- run.cancelled, whoever ends the run ------------------------------------------------------
SLOW_FLOW = """
import time
from pathlib import Path

from mlstudio import task, workflow

@task
def slow(marker: str) -> int:
    Path(marker).write_text("started")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until cancelled (killed)
        time.sleep(0.05)
    return 1

@workflow
def wait(marker: str) -> int:
    return slow(marker)
"""


def run_events(svc: WebhookService, actor: str, hook_id: str) -> list[tuple[str, str, str]]:
    rows = svc.deliveries(actor, hook_id, limit=1000)[::-1]
    data = [(d["event"], d["payload"]["data"]) for d in rows]
    return [(event, d["run_id"], d["state"]) for event, d in data]


def test_a_queued_run_cancelled_before_anyone_drives_it_emits_once(studio, tmp_path):
    wf = working_copy(tmp_path)
    p = studio.platform()
    svc = WebhookService(p.store)
    hook = svc.subscribe("alice", "http://127.0.0.1:9/hooks", list(EVENTS))
    run = p.runs.submit("alice", wf, {"name": "x"})
    assert p.runs.get(run.id).state == "queued"
    cancelled = p.runs.cancel("alice", run.id)
    assert (cancelled.state, cancelled.engine_id) == ("cancelled", None)
    assert cancelled.finished_at is not None
    assert run_events(svc, "alice", hook["id"]) == [("run.cancelled", run.id, "cancelled")]
    # nobody can drive it any more, and asking again changes nothing
    assert p.runs.execute(run.id).state == "cancelled"
    with pytest.raises(StateError, match="already cancelled"):
        p.runs.cancel("alice", run.id)
    assert run_events(svc, "alice", hook["id"]) == [("run.cancelled", run.id, "cancelled")]


def test_a_run_whose_engine_died_is_cancelled_with_its_event(studio, tmp_path):
    import subprocess
    import sys

    wf = working_copy(tmp_path)
    p = studio.platform()
    svc = WebhookService(p.store)
    hook = svc.subscribe("alice", "http://127.0.0.1:9/hooks", ["run.cancelled"])
    run = p.runs.submit("alice", wf, {"name": "x"})
    script = "import os; print(os.getpid())"
    dead = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    with p.store.transaction() as uow:  # as if an engine on this host started it and died
        uow.runs.update_run(
            run.id,
            state="running",
            engine_id=f"{socket.gethostname()}:{dead.stdout.strip()}",
            heartbeat_at=utcnow(),
            started_at=utcnow(),
        )
    assert p.runs.cancel("alice", run.id).state == "cancelled"
    assert run_events(svc, "alice", hook["id"]) == [("run.cancelled", run.id, "cancelled")]


def test_a_running_run_cancelled_through_its_engine_emits_once(studio, tmp_path):
    wf = working_copy(tmp_path, SLOW_FLOW, "wait")
    marker = tmp_path / "started"
    p = studio.platform()
    svc = WebhookService(p.store)
    hook = svc.subscribe("alice", "http://127.0.0.1:9/hooks", list(EVENTS))
    run = p.runs.submit("alice", wf, {"marker": str(marker)})
    final: dict[str, Any] = {}
    engine = threading.Thread(target=lambda: final.update(run=p.runs.execute(run.id)))
    engine.start()
    try:
        wait_until(marker.exists, "the task to start")
        driven = p.runs.get(run.id)
        assert driven.state == "running" and driven.engine_id is not None
        requested = studio.platform().runs.cancel("alice", run.id)
        assert requested.cancel_requested and requested.state in ("cancelling", "cancelled")
    finally:
        engine.join(timeout=120)
    assert not engine.is_alive()
    assert final["run"].state == "cancelled"
    assert run_events(svc, "alice", hook["id"]) == [
        ("run.started", run.id, "running"),
        ("run.cancelled", run.id, "cancelled"),
    ]


def test_an_engine_presumed_dead_does_not_emit_a_second_cancel(studio, tmp_path, monkeypatch):
    """`runs cancel` ends a run whose engine looks dead; when that engine turns out alive and
    sees the cancel, it leaves the run as it was ended and emits nothing more."""
    from mlstudio.workflows.service import RunService

    wf = working_copy(tmp_path, SLOW_FLOW, "wait")
    marker = tmp_path / "started"
    p = studio.platform()
    svc = WebhookService(p.store)
    hook = svc.subscribe("alice", "http://127.0.0.1:9/hooks", ["run.cancelled"])
    run = p.runs.submit("alice", wf, {"marker": str(marker)})
    final: dict[str, Any] = {}
    engine = threading.Thread(target=lambda: final.update(run=p.runs.execute(run.id)))
    engine.start()
    try:
        wait_until(marker.exists, "the task to start")
        monkeypatch.setattr(RunService, "_engine_gone", lambda self, run: True)
        assert studio.platform().runs.cancel("alice", run.id).cancel_requested
    finally:
        engine.join(timeout=120)
    assert not engine.is_alive() and final["run"].state == "cancelled"
    assert run_events(svc, "alice", hook["id"]) == [("run.cancelled", run.id, "cancelled")]
