"""The CLI against a real server (``MLSTUDIO_URL`` + ``MLSTUDIO_TOKEN``): the same commands
print the same output and the same one-line errors as in embedded mode on the same database."""

from __future__ import annotations

import signal

import pytest


def test_module_list_show_and_push_print_the_same(api_server, new_module):
    token = api_server.token()
    api_server.cli("namespace", "create", "remns", "--json")
    pushed = api_server.cli("module", "push", new_module("remns/local"), "--no-tests", "--json")
    assert pushed.code == 0, pushed.stderr

    listed = api_server.same("module", "list", "--namespace", "remns", token=token)
    assert [m["full_name"] for m in listed] == ["remns/local"]

    remote = api_server.cli(
        "module",
        "push",
        new_module("remns/remote"),
        "--no-tests",
        "-m",
        "hi",
        "--json",
        token=token,
    )
    assert remote.code == 0, remote.stderr
    assert (remote.json["ref"], remote.json["unchanged"]) == ("remns/remote@1", False)
    listed = api_server.same("module", "list", "--namespace", "remns", token=token)
    assert [m["full_name"] for m in listed] == ["remns/local", "remns/remote"]
    shown = api_server.same("module", "show", "remns/remote@1", token=token)
    assert shown["selected"]["message"] == "hi"

    moved = api_server.cli("module", "tag", "remns/remote", "stable", "1", "--json", token=token)
    assert (moved.code, moved.json["moved"]) == (0, True), moved.stderr
    back = api_server.cli("module", "rollback", "remns/remote", "--tag", "stable", token=token)
    assert back.code == 5 and back.stderr.startswith("error: remns/remote:stable has no earlier")
    api_server.same("module", "show", "remns/remote:stable", token=token)
    human = api_server.cli("module", "list", "--namespace", "remns", token=token)
    assert "remns/remote" in human.stdout and "stable→1" in human.stdout


def test_a_remote_push_records_the_git_commit_it_was_built_from(api_server, new_module):
    import subprocess

    token = api_server.token()
    api_server.cli("namespace", "create", "gitns", "--json")
    root = new_module("gitns/tracked")
    git = ["git", "-C", str(root), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "first"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)

    clean = api_server.cli("module", "push", root, "--no-tests", "--json", token=token)
    assert clean.code == 0, clean.stderr
    shown = api_server.cli("module", "show", "gitns/tracked@1", "--json", token=token).json
    assert shown["selected"]["git_commit"] == head.stdout.strip()
    assert shown["selected"]["git_dirty"] is False

    (root / "tasks.py").write_text((root / "tasks.py").read_text() + "\n# an edit\n")
    dirty = api_server.cli("module", "push", root, "--no-tests", "--json", token=token)
    assert dirty.code == 0, dirty.stderr
    shown = api_server.cli("module", "show", "gitns/tracked@2", "--json", token=token).json
    assert (shown["selected"]["git_commit"], shown["selected"]["git_dirty"]) == (
        head.stdout.strip(),
        True,
    )
    # a malformed commit is refused before anything is read or published
    with api_server.http(token) as http:
        bad = http.post("/api/v1/modules", params={"git_commit": "not-a-sha"}, content=b"x" * 10)
    assert bad.status_code == 400 and "git_commit" in bad.text


@pytest.mark.parametrize(
    "args",
    [
        ("module", "show", "remns/nothing"),
        ("module", "show", "not a name"),
        ("module", "show", "a/b/c"),
        ("runs", "show", "run_doesnotexist"),
        ("domain", "show", "nowhere"),
        ("module", "promote", "remns/nothing", "1"),
    ],
)
def test_the_same_one_line_error_locally_and_remotely(api_server, args):
    token = api_server.token()
    local = api_server.cli(*args)
    remote = api_server.cli(*args, token=token)
    assert local.code != 0 and local.stderr.startswith("error: ") and local.stderr.count("\n") == 1
    assert (remote.code, remote.stderr) == (local.code, local.stderr)
    local_json = api_server.cli(*args, "--json")
    remote_json = api_server.cli(*args, "--json", token=token)
    assert remote_json.stdout == local_json.stdout


def test_a_refusal_reads_the_same_for_the_token_user(api_server, new_module):
    api_server.cli("namespace", "create", "denyns", "--json")
    api_server.add_user("dave")
    token = api_server.token("dave")
    root = new_module("denyns/mod")
    local = api_server.cli("module", "push", root, "--no-tests", user="dave")
    remote = api_server.cli("module", "push", root, "--no-tests", token=token)
    assert local.code == 4 and "dave may not push modules" in local.stderr
    assert (remote.code, remote.stderr) == (local.code, local.stderr)
    assert api_server.same("whoami", token=token, user="dave")["user"] == "dave"


def test_runs_and_the_read_commands_print_the_same(api_server, new_module):
    token = api_server.token()
    api_server.cli("namespace", "create", "runns", "--json")
    api_server.cli("module", "push", new_module("runns/mod"), "--no-tests", "--json")
    started = api_server.cli(
        "run", "runns/mod/flow:latestAlpha", "-p", "x=4", "--detach", "--json", token=token
    )
    assert started.code == 0, started.stderr
    run_id = started.json["id"]
    assert started.json == {"id": run_id, "state": "queued"}

    runs = api_server.same("runs", "list", "--workflow", "runns/", token=token)
    assert [r["id"] for r in runs] == [run_id]
    shown = api_server.same("runs", "show", run_id, token=token)
    assert (shown["params"], shown["trigger"], shown["executor"]) == ({"x": 4}, "api", "queue")
    api_server.same("runs", "logs", run_id, token=token)
    clone = api_server.cli("runs", "clone", run_id, "-p", "x=5", "--detach", "--json", token=token)
    assert clone.code == 0, clone.stderr
    cancelled = api_server.cli("runs", "cancel", clone.json["id"], "--json", token=token)
    assert cancelled.json["state"] in ("cancelled", "cancelling")
    assert len(api_server.same("runs", "list", "--workflow", "runns/", token=token)) == 2

    api_server.same("cache", "stats", token=token)
    api_server.same("domain", "list", token=token)
    api_server.same("domain", "show", "production", token=token)
    api_server.same("user", "list", token=token)
    api_server.same("namespace", "list", token=token)
    api_server.same("data", "list", token=token)
    events = api_server.same("audit", "--action", "run.", "--since", "1h", token=token)
    assert {e["action"] for e in events} >= {"run.start", "run.cancel"}


def test_tokens_remotely(api_server):
    token = api_server.token()
    created = api_server.cli("token", "create", "-d", "ci", "--json", token=token)
    assert created.code == 0, created.stderr
    assert created.json["token"].startswith("mls_tok_") and created.json["description"] == "ci"
    listed = api_server.same("token", "list", token=token)
    assert created.json["id"] in {t["id"] for t in listed}
    revoked = api_server.cli("token", "revoke", created.json["id"], "--json", token=token)
    assert revoked.json["state"] == "revoked"
    refused = api_server.cli("whoami", token=created.json["token"])
    assert refused.code == 4
    assert refused.stderr.startswith(f"error: API token {created.json['id']} was revoked at ")


def test_datasets_remotely(api_server, tmp_path):
    token = api_server.token()
    api_server.cli("namespace", "create", "datans", "--json")
    csv = tmp_path / "people.csv"
    csv.write_text("id,score\n1,0.5\n2,0.7\n")
    imported = api_server.cli(
        "data", "import", csv, "--name", "datans/people", "--classify", "id=public",
        "--json", token=token,
    )  # fmt: skip
    assert imported.code == 0, imported.stderr
    assert (imported.json["ref"], imported.json["unclassified"]) == ("datans/people@1", ["score"])
    assert imported.json["source"]["file"] == "people.csv"
    api_server.same("data", "show", "datans/people", token=token)
    classified = api_server.cli(
        "data", "classify", "datans/people", "score=internal", "--json", token=token
    )
    assert classified.json["changes"] == [
        {"column": "score", "from": "unclassified", "to": "internal"}
    ]
    api_server.same("data", "lineage", "datans/people", token=token)
    local_file, remote_file = tmp_path / "local.csv", tmp_path / "remote.csv"
    local = api_server.cli("data", "export", "datans/people", local_file, "--json")
    remote = api_server.cli("data", "export", "datans/people", remote_file, "--json", token=token)
    assert local.code == 0 and remote.code == 0, (local.stderr, remote.stderr)
    assert remote_file.read_bytes() == local_file.read_bytes()
    assert {**remote.json, "file": ""} == {**local.json, "file": ""}


def test_remote_mode_problems_are_one_line(api_server, tmp_path):
    token = api_server.token()
    unsupported = api_server.cli("init", token=token)
    assert unsupported.code == 7
    assert unsupported.stderr == (
        "error: `mlstudio init` creates the local home, not a server's "
        "(MLSTUDIO_URL is set) (unset MLSTUDIO_URL to run it on the local home)\n"
    )
    # every other command works remotely, declassifiers included (they used to be local-only)
    assert api_server.same("data", "declassifiers", token=token) == []
    bad = api_server.cli("module", "list", token="mls_nonsense")
    assert bad.code == 4 and bad.stderr.startswith("error: malformed API token")

    no_token = api_server.cli("module", "list", env={"MLSTUDIO_URL": api_server.url})
    assert no_token.code == 7
    assert no_token.stderr.startswith("error: MLSTUDIO_URL is set but MLSTUDIO_TOKEN is not")
    down = api_server.cli("module", "list", token=token, env={"MLSTUDIO_URL": "http://127.0.0.1:9"})
    assert down.code == 7 and down.stderr.count("\n") == 1
    assert down.stderr.startswith("error: cannot reach the mlstudio server at http://127.0.0.1:9")
    # local by nature: still works in remote mode
    scaffold = api_server.cli("module", "new", "x/y", tmp_path / "y", "--json", token=token)
    assert scaffold.code == 0, scaffold.stderr


@pytest.mark.slow
def test_run_waits_for_the_servers_workers_and_prints_the_same(server_factory, new_module):
    server = server_factory("sqlite")  # with the background loops: the run driver
    token = server.token()
    server.cli("namespace", "create", "wns", "--json")
    server.cli("module", "push", new_module("wns/mod"), "--no-tests", "--json")
    worker = server.spawn("worker", "--concurrency", "1")
    try:
        done = server.cli("run", "wns/mod/flow:latestAlpha", "-p", "x=21", "--json", token=token)
        assert done.code == 0, done.stderr
        assert (done.json["state"], done.json["output_value"]) == ("succeeded", 42)
        server.same("runs", "show", done.json["id"], token=token)
        human = server.cli("run", "wns/mod/flow:latestAlpha", "-p", "x=21", token=token)
        assert human.code == 0 and human.stdout.startswith("succeeded run ")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert "background loop mlstudio.scheduling.driver:start started" in server.log_text()
