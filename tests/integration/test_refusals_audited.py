"""Every refusal is audited: one ``deny`` event with the actor, action, target and reason.

One table walks every refusing path of the services through the CLI (command x missing right),
on SQLite and on Postgres; then the same through the API (a real request, FastAPI's TestClient).
Each refused command must fail with exit 4, change nothing, and add exactly one audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from mlstudio.testing.flows import working_copy
from mlstudio.workflows.options import RunOptions

APP_MANIFEST = '[module]\nname = "team/app"\ndescription = "an app"\nowners = ["alice"]\n'
APP_TASKS = """
from mlstudio import task, workflow

@task
def hello(name: str = "world") -> str:
    return f"hello {name}"

@workflow
def main(name: str = "world") -> str:
    return hello(name)
"""
CSV = "id,email,plan\n1,a@x.io,pro\n2,b@x.io,free\n"


@dataclass(frozen=True)
class Refusal:
    """``mlstudio ARGS`` as ``user`` is refused: audited as ``action`` on ``resource``, with a
    reason containing ``reason``."""

    args: tuple[str, ...]
    user: str
    action: str
    resource: str
    reason: str


@dataclass
class World:
    run: str  # a finished run in experimentation (alice)
    queued: str  # a queued run nobody drives (alice)
    schedule: str
    webhook: str
    delivery: int
    token: str  # one of alice's token ids
    declassifier: str
    flow: str
    app: Path
    csv: Path
    out: Path


def build_world(studio: Any, tmp_path: Path) -> World:
    studio.ok("namespace", "create", "team")
    for user in ("bob", "sue"):
        studio.ok("user", "add", user)
    studio.ok("user", "grant", "sue", "steward")
    app = tmp_path / "app"
    (app / "tests").mkdir(parents=True)
    (app / "module.toml").write_text(APP_MANIFEST)
    (app / "tasks.py").write_text(APP_TASKS)
    studio.ok("module", "push", app, "--no-tests")
    csv = tmp_path / "customers.csv"
    csv.write_text(CSV)
    studio.ok(
        "data", "import", csv, "--name", "team/customers",
        "--classify", "id=internal", "--classify", "email=confidential+pii",
        "--classify", "plan=internal",
    )  # fmt: skip
    hook = studio.ok("webhook", "add", "http://127.0.0.1:9/hook", "--event", "run.succeeded")
    flow = working_copy(tmp_path)
    run = studio.ok("run", flow)
    assert run["state"] == "succeeded"
    [delivery] = studio.ok("webhook", "deliveries", hook["id"])
    with studio.opened() as platform:
        queued = platform.runs.submit("alice", flow, {}, RunOptions(domain="experimentation"))
        token, _secret = platform.tokens.create("alice")
    schedule = studio.ok("schedule", "add", flow, "--cron", "0 * * * *")
    declassifier = studio.ok(
        "data", "declassify", "team/app@1", "hello", "--column", "x", "--to", "public",
        "--justification", "a test",
    )  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    return World(
        run=run["id"],
        queued=queued.id,
        schedule=schedule["id"],
        webhook=hook["id"],
        delivery=delivery["id"],
        token=token.id,
        declassifier=declassifier["id"],
        flow=flow,
        app=app,
        csv=csv,
        out=out,
    )


def refusals(w: World) -> list[Refusal]:
    """Command x missing right: every path on which a service refuses."""
    bob = "bob"
    return [
        # modules: no namespace right
        Refusal(("module", "push", str(w.app)), bob, "module.push", "team/app", "maintainer"),
        Refusal(("module", "push", str(w.app)), "eve", "module.push", "team/app", "maintainer"),
        Refusal(("module", "promote", "team/app", "1"), bob, "module.promote", "team/app:latest", "maintainer"),
        Refusal(("module", "tag", "team/app", "stable", "1"), bob, "tag.move", "team/app:stable", "maintainer"),
        Refusal(("module", "rollback", "team/app"), bob, "tag.move", "team/app:latest", "maintainer"),
        # namespaces: not an admin, not an owner
        Refusal(("namespace", "create", "other"), bob, "namespace.create", "namespace:other", "admin"),
        Refusal(("namespace", "grant", "team", "bob", "owner"), bob, "grant.add", "user:bob", "owner"),
        Refusal(("namespace", "quota", "team", "--runs", "1"), bob, "namespace.quota", "namespace:team", "admin"),
        # data: no domain role, not a steward, lowering, no namespace right
        Refusal(("data", "export", "team/customers", str(w.out / "c.csv"), "--domain", "production"), bob, "data.export", "dataset:team/customers@1", "viewer or runner"),
        Refusal(("data", "export", "team/customers", str(w.out / "c.csv")), "alice", "data.export", "dataset:team/customers@1", "pii"),
        Refusal(("data", "classify", "team/customers", "email=restricted"), bob, "data.classify", "dataset:team/customers@1", "steward"),
        Refusal(("data", "classify", "team/customers", "id=public"), "sue", "data.classify", "dataset:team/customers@1", "would lower"),
        Refusal(("data", "import", str(w.csv), "--name", "team/more"), bob, "data.import", "dataset:team/more", "maintainer"),
        Refusal(("data", "import", str(w.csv), "--name", "team/more", "--domain", "experimentation"), "alice", "data.import", "dataset:team/more", "unclassified"),
        Refusal(("data", "declassify", "team/app@1", "hello", "--column", "x", "--to", "public", "--justification", "j"), bob, "declassifier.create", "team/app@1", "steward"),
        Refusal(("data", "approve", w.declassifier), bob, "declassifier.approve", f"declassifier:{w.declassifier}", "steward"),
        Refusal(("data", "approve", w.declassifier), "alice", "declassifier.approve", f"declassifier:{w.declassifier}", "second person"),
        Refusal(("data", "revoke", w.declassifier), bob, "declassifier.revoke", f"declassifier:{w.declassifier}", "steward"),
        # runs of a domain bob holds no role on
        Refusal(("runs", "show", w.run), bob, "run.show", f"run:{w.run}", "viewer or runner"),
        Refusal(("runs", "logs", w.run), bob, "run.logs", f"run:{w.run}", "viewer or runner"),
        Refusal(("runs", "cancel", w.queued), bob, "run.cancel", f"run:{w.queued}", "runner"),
        Refusal(("runs", "resume", w.queued), bob, "run.resume", f"run:{w.queued}", "runner"),
        Refusal(("runs", "clone", w.run), bob, "run.start", f"workflow:{w.flow}", "runner"),
        Refusal(("run", w.flow), bob, "run.start", f"workflow:{w.flow}", "runner"),
        # schedules
        Refusal(("schedule", "add", w.flow, "--cron", "0 * * * *"), bob, "schedule.add", f"workflow:{w.flow}", "runner"),
        Refusal(("schedule", "show", w.schedule), bob, "schedule.show", f"schedule:{w.schedule}", "viewer or runner"),
        Refusal(("schedule", "pause", w.schedule), bob, "schedule.pause", f"schedule:{w.schedule}", "runner"),
        Refusal(("schedule", "resume", w.schedule), bob, "schedule.resume", f"schedule:{w.schedule}", "runner"),
        Refusal(("schedule", "remove", w.schedule), bob, "schedule.remove", f"schedule:{w.schedule}", "runner"),
        # domains, users, tokens: not an admin (or not the owner)
        Refusal(("domain", "set", "adhoc", "--clearance", "restricted"), bob, "domain.set", "domain:adhoc", "admin"),
        Refusal(("user", "add", "carol"), bob, "user.add", "user:carol", "admin"),
        Refusal(("user", "grant", "bob", "admin"), bob, "grant.add", "user:bob", "admin"),
        Refusal(("user", "grant", "bob", "runner", "--domain", "production"), bob, "grant.add", "user:bob", "admin"),
        Refusal(("user", "revoke", "sue", "steward"), bob, "grant.revoke", "user:sue", "admin"),
        Refusal(("user", "disable", "sue"), bob, "user.disable", "user:sue", "admin"),
        Refusal(("user", "enable", "sue"), bob, "user.enable", "user:sue", "admin"),
        Refusal(("token", "create", "--user", "alice"), bob, "token.create", "user:alice", "admin"),
        Refusal(("token", "revoke", w.token), bob, "token.revoke", f"token:{w.token}", "admin"),
        Refusal(("token", "list", "--user", "alice"), bob, "token.list", "user:alice", "admin"),
        # webhooks: admins only
        Refusal(("webhook", "add", "http://127.0.0.1:9/x", "--event", "run.failed"), bob, "webhook.add", "webhook:", "admin"),
        Refusal(("webhook", "list"), bob, "webhook.list", "webhook:*", "admin"),
        Refusal(("webhook", "remove", w.webhook), bob, "webhook.remove", f"webhook:{w.webhook}", "admin"),
        Refusal(("webhook", "deliveries", w.webhook), bob, "webhook.deliveries", f"webhook:{w.webhook}", "admin"),
        Refusal(("webhook", "attempts", str(w.delivery)), bob, "webhook.attempts", f"delivery:{w.delivery}", "admin"),
        Refusal(("webhook", "replay", str(w.delivery)), bob, "webhook.replay", f"delivery:{w.delivery}", "admin"),
    ]  # fmt: skip


def audit_log(studio: Any) -> list[dict[str, Any]]:
    return studio.ok("audit", "--limit", "10000")


def check_refusal(studio: Any, row: Refusal) -> str | None:
    """None when ``row`` is refused (exit 4) with exactly one matching deny event, else why not."""
    where = f"mlstudio {' '.join(row.args)} as {row.user}"
    before = audit_log(studio)
    refused = studio.cli(*row.args, "--json", user=row.user)
    if refused.code != 4:
        return f"{where}: exit {refused.code}, not 4: {refused.stderr.strip()}"
    after = audit_log(studio)
    new = after[: len(after) - len(before)]
    if len(new) != 1:
        return f"{where}: {len(new)} audit events, not 1"
    [event] = new
    details = event["details"]
    reason = details.get("reason", "")
    expected = (row.user, row.action, "deny")
    if (event["actor"], event["action"], event["decision"]) != expected:
        return f"{where}: {event['actor']} {event['action']} {event['decision']} != {expected}"
    if not event["resource"].startswith(row.resource):
        return f"{where}: target {event['resource']!r}, not {row.resource!r}"
    if row.reason not in reason or reason not in refused.stderr:
        return f"{where}: reason {reason!r} (told: {refused.stderr.strip()!r})"
    if details.get("code") not in ("permission_denied", "policy_violation"):
        return f"{where}: code {details.get('code')!r}"
    return None


def test_every_refusal_is_audited_once_with_actor_action_target_and_reason(studio, tmp_path):
    world = build_world(studio, tmp_path)
    table = refusals(world)
    problems = [problem for row in table if (problem := check_refusal(studio, row))]
    assert not problems, f"{len(problems)} of {len(table)} refusals:\n" + "\n".join(problems)
    # nothing was changed by any of them
    assert [v["version"] for v in studio.ok("module", "show", "team/app")["versions"]] == [1]
    assert {t["name"] for t in studio.ok("module", "show", "team/app")["tags"]} == {"latestAlpha"}
    assert [d["name"] for d in studio.ok("data", "list")] == ["team/customers"]
    assert studio.ok("schedule", "show", world.schedule)["state"] == "active"
    assert len(studio.ok("webhook", "list")) == 1
    assert studio.ok("runs", "show", world.queued)["state"] == "queued"
    assert studio.ok("data", "declassifiers")[0]["state"] == "pending"
    assert {u["name"] for u in studio.ok("user", "list")} == {"alice", "bob", "sue"}


def test_a_refusal_through_the_api_is_audited(studio, tmp_path):
    world = build_world(studio, tmp_path)
    with studio.opened() as platform:
        from mlstudio.api.app import create_app

        _record, token = platform.tokens.create("alice", "bob")
        with TestClient(create_app(platform)) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            for method, path, action, resource in (
                ("GET", f"/api/v1/runs/{world.run}", "run.show", f"run:{world.run}"),
                ("GET", f"/api/v1/runs/{world.run}/logs", "run.logs", f"run:{world.run}"),
                ("POST", "/api/v1/modules/team/app/promote", "module.promote", "team/app:latest"),
                ("POST", "/api/v1/namespaces", "namespace.create", "namespace:other"),
            ):
                before = _count(platform)
                body = {"version": 1} if "promote" in path else {"name": "other"}
                response = client.request(method, path, json=body if method == "POST" else None)
                assert response.status_code == 403, (path, response.text)
                assert _count(platform) == before + 1, path
                with platform.store.read() as uow:
                    [event] = uow.audit.list(actor="bob", limit=1)
                assert (event.action, event.resource, event.decision) == (action, resource, "deny")
                assert event.details["reason"] == response.json()["error"]["message"]


def _count(platform: Any) -> int:
    with platform.store.read() as uow:
        return len(uow.audit.list(limit=100_000))
