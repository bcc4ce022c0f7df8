"""``mlstudio deploy`` against a real ``mlstudio server``: its supervisor starts the serving
process, which follows the alias and the canary flag; ``kill -9`` of it is restarted; a
refused load (a pii model in a domain that may not read pii) is the deployment's reason; and
remove stops it. One trained home on Postgres is cloned for the module."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlstudio.testing.databases import fresh_postgres_database
from mlstudio.testing.servers import Server, start_server
from mlstudio.testing.serving import Template, clone, drop, prepare_home

pytestmark = pytest.mark.timeout(900)

ROW = {"a": 1.0, "b": 2.0}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    with fresh_postgres_database() as url:
        home = tmp_path_factory.mktemp("deploy-template") / "home"
        versions = prepare_home(home, url)
        yield Template(home, url, versions)


@pytest.fixture
def server(template: Template, tmp_path: Path) -> Iterator[Server]:
    home, url = clone(template, tmp_path)
    started = start_server(home, url)
    yield started
    started.stop()
    drop(url)


def cli(server: Server, token: str, *args: str) -> Any:
    result = server.cli(*args, "--json", token=token)
    assert result.code == 0, f"mlstudio {' '.join(args)}: {result.stderr}\n{server.log_text()}"
    return json.loads(result.stdout) if result.stdout.strip() else None


def wait_for(check: Any, server: Server, what: str, deadline_s: float = 60.0) -> Any:
    end = time.monotonic() + deadline_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            logs = "\n".join(
                p.read_text(errors="replace") for p in (server.home / "deployments").glob("*.log")
            )
            raise AssertionError(f"timed out waiting for {what}:\n{server.log_text()}\n{logs}")
        time.sleep(0.1)


def predict(url: str, token: str, subject: str = "u1") -> dict[str, Any] | None:
    try:
        r = httpx.post(
            f"{url}/v1/models/churn:predict",
            json={"rows": [ROW], "subject": subject},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    except httpx.TransportError:
        return None
    return r.json() if r.status_code == 200 else None


def test_deploy_predict_canary_rollback_restart_and_remove(server, template):
    v = template.versions
    token = server.token()
    cli(server, token, "model", "alias", "churn", "challenger", str(v["other"]))
    created = cli(
        server, token, "deploy", "churn", "--alias", "live", "--also", "challenger",
        "--fallback", "constant:0.5",
    )  # fmt: skip
    assert created["status"] == "pending" and created["also"] == ["challenger"]

    def running() -> Any:
        shown = cli(server, token, "deploy", "show", "churn")
        return shown if shown["status"] == "running" else None

    shown = wait_for(running, server, "the deployment to run")
    url, pid = shown["url"], shown["pid"]
    assert shown["restarts"] == 0 and pid
    first = predict(url, token)
    assert first is not None and first["version"] == v["good"]
    assert httpx.get(url + "/ready").status_code == 401  # token auth as everywhere

    # canary: every subject to challenger through the route flag, then back
    cli(server, token, "flag", "set", "serve.churn.route", "--split", "live=0",
        "--split", "challenger=100", "--namespace", "shop")  # fmt: skip
    wait_for(lambda: (p := predict(url, token)) and p["version"] == v["other"], server, "canary")
    cli(server, token, "flag", "remove", "serve.churn.route")
    wait_for(lambda: (p := predict(url, token)) and p["version"] == v["good"], server, "no canary")

    # move the alias, then roll it back: no restart of the process
    cli(server, token, "model", "alias", "churn", "live", str(v["other"]))
    wait_for(lambda: (p := predict(url, token)) and p["version"] == v["other"], server, "move")
    cli(server, token, "model", "alias", "churn", "live", str(v["good"]))
    wait_for(lambda: (p := predict(url, token)) and p["version"] == v["good"], server, "rollback")
    assert cli(server, token, "deploy", "show", "churn")["pid"] == pid

    # kill -9 of the serving process: the supervisor restarts it on the same url
    os.kill(pid, signal.SIGKILL)

    def restarted() -> Any:
        s = cli(server, token, "deploy", "show", "churn")
        return s if s["status"] == "running" and s["pid"] not in (None, pid) else None

    again = wait_for(restarted, server, "the restart")
    assert again["restarts"] == 1 and again["url"] == url
    assert again["reason"] is None  # running again; the death is in the audit log
    assert (predict(url, token) or {}).get("version") == v["good"]
    audit = cli(server, token, "audit", "--action", "deploy.restart")
    assert [e["resource"] for e in audit] == ["deployment:churn"]
    assert audit[0]["details"]["exit_code"] == -9
    assert audit[0]["details"]["reason"] == "the serving process was killed by signal 9"

    # remove: the process stops and the deployment is forgotten
    assert cli(server, token, "deploy", "remove", "churn") == {"name": "churn", "removed": True}
    wait_for(lambda: cli(server, token, "deploy", "list") == [], server, "removal")
    wait_for(lambda: predict(url, token) is None, server, "the process to stop")
    actions = [e["action"] for e in cli(server, token, "audit", "--action", "deploy.set")]
    assert actions == ["deploy.set"]


def test_refused_load_is_the_reason_and_bad_deploys_change_nothing(server, template):
    token = server.token()
    # model people inherits pii; experimentation may not read pii: the load is refused
    cli(server, token, "deploy", "people", "--alias", "live", "--domain", "experimentation")

    def failed() -> Any:
        s = cli(server, token, "deploy", "show", "people")
        return s if s["status"] == "failed" and s["reason"] else None

    shown = wait_for(failed, server, "the refusal")
    assert "pii" in shown["reason"] or "classification" in shown["reason"], shown["reason"]
    denied = cli(server, token, "audit", "--action", "model.load")
    assert any(e["decision"] == "deny" for e in denied)
    cli(server, token, "deploy", "remove", "people")

    # bob is no maintainer of namespace shop: refused (403), audited, nothing recorded
    server.add_user("bob")
    bob = server.token("bob")
    result = server.cli("deploy", "churn", "--alias", "live", token=bob)
    assert result.code == 4 and "bob may not deploy" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    refused = cli(server, token, "audit", "--action", "deploy.set")
    assert [(e["actor"], e["decision"]) for e in refused] == [("bob", "deny"), ("alice", "allow")]
    # no such alias; a bad fallback; embedded mode names the server
    missing = server.cli("deploy", "churn", "--alias", "nope", token=token)
    assert missing.code == 3 and "no alias 'nope'" in missing.stderr
    bad = server.cli("deploy", "churn", "--alias", "live", "--fallback", "magic", token=token)
    assert bad.code == 2 and "invalid fallback 'magic'" in bad.stderr
    local = server.cli("deploy", "churn", "--alias", "live")
    assert (
        local.code == 7 and "mlstudio server" in local.stderr and "mlstudio serve" in local.stderr
    )
    assert [d["name"] for d in cli(server, token, "deploy", "list")] in ([], ["people"])
