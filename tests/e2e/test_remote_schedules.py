"""``mlstudio schedule …`` against a real server (``MLSTUDIO_URL`` + ``MLSTUDIO_TOKEN``): the same
output and the same one-line errors as embedded mode on the same database, the HTTP answers of
``/api/v1/schedules``, and a schedule added over the API firing a run that a worker executes."""

from __future__ import annotations

import re
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlstudio.testing.flows import wait_until

Server = Any  # tests/e2e/conftest.py's Server

DEADLINE_S = 120.0
# a yearly tick: next_fire_at is the same for schedules added seconds apart (the test compares)
YEARLY = "0 0 1 1 *"


def push(server: Server, new_module: Any, name: str) -> str:
    """Push module ``name`` (embedded, as alice); returns its workflow ``name/flow:latestAlpha``."""
    namespace = name.split("/")[0]
    server.cli("namespace", "create", namespace, "--json")
    pushed = server.cli("module", "push", new_module(name), "--no-tests", "--json")
    assert pushed.code == 0, pushed.stderr
    return f"{name}/flow:latestAlpha"


def same_error(server: Server, *args: str, token: str, user: str = "alice") -> Any:
    """``mlstudio ARGS`` fails embedded and remotely with the same exit code and one line (and
    the same ``--json`` error); returns the embedded result."""
    local = server.cli(*args, user=user)
    remote = server.cli(*args, token=token)
    assert local.code != 0 and local.stderr.startswith("error: ") and local.stderr.count("\n") == 1
    assert (remote.code, remote.stderr) == (local.code, local.stderr)
    local_json = server.cli(*args, "--json", user=user)
    remote_json = server.cli(*args, "--json", token=token)
    assert remote_json.code == local_json.code
    assert remote_json.stdout == local_json.stdout
    return local


def one_line(body: dict[str, Any]) -> str:
    """An HTTP error body as the CLI prints it."""
    error = body["error"]
    return f"error: {error['message']}" + (f" ({error['hint']})" if error.get("hint") else "")


def masked(data: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    return {**data, "id": ids.get(data["id"], data["id"]), "created_at": "T"}


def test_add_list_show_pause_resume_remove_print_the_same(api_server, new_module):
    server = api_server
    token = server.token()
    workflow = push(server, new_module, "schedns/mod")
    add = ("schedule", "add", workflow, "--cron", YEARLY, "--tz", "Europe/Berlin",
           "--catchup", "latest", "-p", "x=3", "--domain", "experimentation")  # fmt: skip

    # the same schedule, added remotely (A) and embedded (B): the same answer but for the id
    remote = server.cli(*add, "--json", token=token)
    local = server.cli(*add, "--json")
    assert remote.code == 0, remote.stderr
    assert local.code == 0, local.stderr
    a, b = remote.json["id"], local.json["id"]
    assert a != b and a.startswith("sch_")
    ids = {a: "ID", b: "ID"}
    assert masked(remote.json, ids) == masked(local.json, ids)
    assert list(remote.json) == list(local.json)  # the same keys in the same order
    assert remote.json["params"] == {"x": "3"} and remote.json["created_by"] == "alice"
    assert (remote.json["state"], remote.json["fires"], remote.json["recent"]) == ("active", 0, [])
    assert remote.json["next_fire_at"].endswith("Z")
    human_remote = server.cli(*add, token=token)
    human_local = server.cli(*add)
    assert human_remote.code == 0 and human_local.code == 0
    ids_re = re.compile(r"sch_\w+")
    assert ids_re.sub("ID", human_remote.stdout) == ids_re.sub("ID", human_local.stdout)
    assert "added: schedns/mod/flow:latestAlpha" in human_remote.stdout

    listed = server.same("schedule", "list", "--workflow", "schedns/", token=token, human=True)
    assert [s["id"] for s in listed][:2] == [a, b] and len(listed) == 4
    shown = server.same("schedule", "show", a, token=token, human=True)
    assert masked(shown, {}) == masked(remote.json, {})
    by_prefix = server.same("schedule", "show", a[:-2], token=token, human=True)  # unique prefix
    assert by_prefix["id"] == a

    # pause, resume, remove: A remotely, B embedded, the same answers
    for action, state in (("pause", "paused"), ("resume", "active"), ("remove", "removed")):
        r = server.cli("schedule", action, a, "--json", token=token)
        lo = server.cli("schedule", action, b, "--json")
        assert r.code == 0 and lo.code == 0, (r.stderr, lo.stderr)
        assert masked(r.json, ids) == masked(lo.json, ids)
        assert (r.json["state"], r.json["changed"]) == (state, True)
        if action != "remove":  # again: nothing changes, both modes say so alike
            again = server.same("schedule", action, a, token=token, human=True)
            assert again["changed"] is False
    other = server.same("schedule", "show", listed[2]["id"], token=token, human=True)
    assert other["state"] == "active"
    gone = same_error(server, "schedule", "show", a, token=token)
    assert gone.code == 3 and f"schedule {a} does not exist" in gone.stderr
    listed = server.same("schedule", "list", "--workflow", "schedns/", token=token, human=True)
    assert a not in {s["id"] for s in listed} and b not in {s["id"] for s in listed}
    events = server.cli("audit", "--action", "schedule.", "--json").json
    mine = {(e["action"], e["resource"]) for e in events if e["actor"] == "alice"}
    assert {
        (f"schedule.{x}", f"schedule:{a}") for x in ("add", "pause", "resume", "remove")
    } <= mine


def test_a_user_without_the_runner_role_is_refused_alike(api_server, new_module):
    server = api_server
    workflow = push(server, new_module, "denysch/mod")
    server.add_user("erin")
    token = server.token("erin")
    alice = server.cli("schedule", "add", workflow, "--cron", YEARLY, "--json").json

    refused = same_error(
        server, "schedule", "add", workflow, "--cron", YEARLY, token=token, user="erin"
    )
    assert refused.code == 4 and "runner" in refused.stderr
    with server.http(token) as http:
        answer = http.post("/api/v1/schedules", json={"workflow": workflow, "cron": YEARLY})
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "permission_denied"
        assert one_line(answer.json()) + "\n" == refused.stderr
        for method, path in (
            ("POST", f"/api/v1/schedules/{alice['id']}/pause"),
            ("POST", f"/api/v1/schedules/{alice['id']}/resume"),
            ("DELETE", f"/api/v1/schedules/{alice['id']}"),
            ("GET", f"/api/v1/schedules/{alice['id']}"),  # erin may not even view the domain
        ):
            assert http.request(method, path).status_code == 403, (method, path)
        assert http.get("/api/v1/schedules").json()["items"] == []
    for action in ("pause", "remove", "show"):
        denied = same_error(server, "schedule", action, alice["id"], token=token, user="erin")
        assert denied.code == 4
    assert server.cli("schedule", "show", alice["id"], "--json").json["state"] == "active"
    events = server.cli("audit", "--actor", "erin", "--action", "schedule.", "--json").json
    assert {e["action"] for e in events if e["decision"] == "deny"} >= {
        "schedule.add",
        "schedule.pause",
        "schedule.remove",
    }


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("POST", "/pause"), ("POST", "/resume"), ("DELETE", "")],
)
def test_an_unknown_schedule_is_404(api_server, method, suffix):
    with api_server.http(api_server.token()) as http:
        answer = http.request(method, f"/api/v1/schedules/sch_doesnotexist{suffix}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert answer.json()["error"]["message"] == "schedule sch_doesnotexist does not exist"


@pytest.mark.parametrize("action", ["show", "pause", "resume", "remove"])
def test_an_unknown_schedule_reads_the_same_in_the_cli(api_server, action):
    failed = same_error(
        api_server, "schedule", action, "sch_doesnotexist", token=api_server.token()
    )
    assert failed.code == 3
    assert failed.stderr == (
        "error: schedule sch_doesnotexist does not exist (see: mlstudio schedule list)\n"
    )


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--cron", "61 * * * *", "invalid cron expression '61 * * * *'"),
        ("--cron", "* * * *", "4 fields, not 5"),
        ("--tz", "Nowhere/City", "unknown time zone 'Nowhere/City'"),
        ("--catchup", "some", "unknown catch-up policy 'some' (use one of: none, latest, all)"),
    ],
)
def test_bad_input_is_400_with_the_clis_one_line(api_server, new_module, option, value, expected):
    server = api_server
    workflow = push(server, new_module, "badsch/mod")
    token = server.token()
    args = {"--cron": "0 * * * *", "--tz": "UTC", "--catchup": "none", option: value}
    cli = same_error(server, "schedule", "add", workflow, *[x for kv in args.items() for x in kv],
                     token=token)  # fmt: skip
    assert cli.code == 2 and expected in cli.stderr
    body = {"workflow": workflow, "cron": args["--cron"], "tz": args["--tz"],
            "catchup": args["--catchup"]}  # fmt: skip
    with server.http(token) as http:
        answer = http.post("/api/v1/schedules", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_input"
    assert one_line(answer.json()) + "\n" == cli.stderr
    assert server.cli("schedule", "list", "--workflow", "badsch/", "--json").json == []


def test_malformed_bodies_and_working_copies_are_refused(api_server, new_module, tmp_path):
    server = api_server
    workflow = push(server, new_module, "refsch/mod")
    token = server.token()
    with server.http(token) as http:
        typo = http.post(
            "/api/v1/schedules", json={"workflow": workflow, "cron": YEARLY, "timezone": "UTC"}
        )
        assert typo.status_code == 400
        assert typo.json()["error"]["message"] == (
            "invalid request: body field timezone: Extra inputs are not permitted"
        )
        missing = http.post("/api/v1/schedules", json={"workflow": workflow})
        assert missing.status_code == 400
        assert "body field cron: Field required" in missing.json()["error"]["message"]
        copy = http.post(
            "/api/v1/schedules", json={"workflow": "/srv/flow.py:greet", "cron": YEARLY}
        )
        assert copy.status_code == 400
        assert copy.json()["error"]["message"] == (
            "'/srv/flow.py:greet' is a working copy: a server runs pushed workflows only"
        )
    flow = tmp_path / "flow.py"
    flow.write_text(
        "from mlstudio import workflow\n\n@workflow\ndef greet() -> int:\n    return 1\n"
    )
    cli = server.cli("schedule", "add", f"{flow}:greet", "--cron", YEARLY, token=token)
    assert cli.code == 2 and cli.stderr.count("\n") == 1
    assert cli.stderr == (
        f"error: '{flow}:greet' is a working copy: a server runs pushed workflows only "
        "(push the module, then schedule NS/MODULE/WORKFLOW[:TAG|@N])\n"
    )
    listed = server.cli("schedule", "list", "--limit", "1000", "--json").json
    assert not [s for s in listed if s["workflow"].endswith(":greet")]


def test_paging_and_the_workflow_filter(api_server, new_module):
    server = api_server
    token = server.token()
    one = push(server, new_module, "pagesch/one")
    two = push(server, new_module, "pagesch/two")
    added = []
    for workflow in (one, two, one, two, one):
        result = server.cli("schedule", "add", workflow, "--cron", YEARLY, "--json", token=token)
        assert result.code == 0, result.stderr
        added.append(result.json["id"])
    with server.http(token) as http:
        pages = []
        for offset in (0, 2, 4, 6):
            answer = http.get("/api/v1/schedules", params={"workflow": "pagesch/", "limit": 2,
                                                          "offset": offset})  # fmt: skip
            assert answer.status_code == 200
            assert (answer.json()["limit"], answer.json()["offset"]) == (2, offset)
            pages.append([s["id"] for s in answer.json()["items"]])
        assert pages == [added[0:2], added[2:4], added[4:5], []]  # oldest first
        only_one = http.get("/api/v1/schedules", params={"workflow": "pagesch/one"}).json()
        assert [s["id"] for s in only_one["items"]] == added[0::2]
        assert {s["workflow"] for s in only_one["items"]} == {one}
        assert http.get("/api/v1/schedules", params={"limit": 0}).status_code == 400
        assert http.get("/api/v1/schedules", params={"offset": -1}).status_code == 400
    window = server.same("schedule", "list", "--workflow", "pagesch/", "--limit", "2",
                         "--offset", "1", token=token, human=True)  # fmt: skip
    assert [s["id"] for s in window] == added[1:3]
    two_only = server.same("schedule", "list", "--workflow", "pagesch/two", token=token, human=True)
    assert [s["id"] for s in two_only] == added[1::2]


def poll(check: Any, what: str, server: Server) -> Any:
    """``check()`` until it returns something truthy, within DEADLINE_S."""
    return wait_until(check, what, DEADLINE_S, every_s=0.2, explain=lambda: state(server))


def state(server: Server) -> str:
    """What the database and the server log say, for a failure message."""
    from sqlalchemy import select

    from mlstudio.store.metadata.tables import runs, task_queue, task_runs, workers

    lines = []
    with server.platform().store.read() as uow:
        for table in (runs, task_runs, task_queue, workers):
            columns = [c for c in table.c if c.name not in ("plan", "lock", "dispatch", "params")]
            lines += [
                f"{table.name}: {dict(r._mapping)}" for r in uow.conn.execute(select(*columns))
            ]
    return "\n".join(lines) + "\n" + server.log_text()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_schedule_added_over_the_api_fires_and_a_worker_runs_it(server_factory, new_module):
    server = server_factory("postgres")  # with the background loops: scheduler and run driver
    token = server.token()
    workflow = push(server, new_module, "firesch/mod")
    with server.http(token) as http:
        answer = http.post(
            "/api/v1/schedules",
            json={"workflow": workflow, "cron": "* * * * *", "catchup": "latest",
                  "params": {"x": 21}},
        )  # fmt: skip
    assert answer.status_code == 201, answer.text
    schedule = answer.json()
    assert (schedule["workflow"], schedule["state"]) == (workflow, "active")
    # as a scheduler that stopped ten minutes ago would have left it: the latest tick is due
    missed = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    with server.platform().store.transaction() as uow:
        uow.schedules.update(schedule["id"], next_fire_at=missed)

    def fired() -> dict[str, Any] | None:
        shown = server.cli("schedule", "show", schedule["id"], "--json", token=token)
        assert shown.code == 0, shown.stderr
        runs = [f for f in shown.json["recent"] if f["run_id"]]
        return shown.json if runs else None

    shown = poll(fired, "fire with a run", server)
    assert all(f["error"] is None for f in shown["recent"])
    assert shown["last_fire_at"] is not None and shown["runs"] >= 1
    run_id = shown["recent"][-1]["run_id"]  # the first fire: the caught-up tick
    # its task waits for a worker: the server drives the run but executes no task itself
    waiting = server.cli("runs", "show", run_id, "--json", token=token).json
    assert waiting["state"] in ("queued", "running"), waiting
    worker = server.spawn("worker", "--concurrency", "1")
    try:

        def finished() -> dict[str, Any] | None:
            run = server.cli("runs", "show", run_id, "--json", token=token)
            assert run.code == 0, run.stderr
            return run.json if run.json["state"] in ("succeeded", "failed", "cancelled") else None

        run = poll(finished, "end of the scheduled run", server)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert run["state"] == "succeeded", run
    assert (run["trigger"], run["created_by"], run["output_value"]) == ("schedule", "alice", 42)
    assert run["executor"] == "queue"  # the server's run driver took it to the workers
    shown = server.cli("schedule", "show", schedule["id"], "--json", token=token).json
    fire = next(f for f in shown["recent"] if f["run_id"] == run_id)
    assert fire["run_state"] == "succeeded"
    paused = server.cli("schedule", "pause", schedule["id"], "--json", token=token)
    assert paused.code == 0 and paused.json["state"] == "paused", paused.stderr
