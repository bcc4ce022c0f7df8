"""``runs logs`` and ``runs logs --follow`` through a real server (API route + Client): a
task's lines show while it runs, --follow ends with the task, and the route refuses a bad
cursor and a missing token."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

from mlstudio.testing.flows import mlstudio_executable, wait_until
from mlstudio.testing.servers import clean_env

TALK = """
import time
from pathlib import Path

from mlstudio import task, workflow


@task(cache="off")
def held(folder: str) -> int:
    print("first line")
    (Path(folder) / "started").write_text("x")
    while not (Path(folder) / "go").exists():
        time.sleep(0.05)
    print("last line")
    return 1


@workflow
def talk(folder: str) -> int:
    return held(folder)
"""


def _push(server: Any, root: Path) -> None:
    module = root / "talkmod"
    module.mkdir(parents=True)
    (module / "module.toml").write_text('[module]\nname = "logs/talk"\nrequirements = []\n')
    (module / "tasks.py").write_text(TALK)
    assert server.cli("namespace", "create", "logs", "--json").code == 0
    pushed = server.cli("module", "push", module, "--no-tests", "--json")
    assert pushed.code == 0, pushed.stderr


def test_remote_logs_show_lines_while_running_and_follow_ends_with_the_task(
    server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory("sqlite")
    token = server.token()
    _push(server, tmp_path)
    _follow_through(server, token, tmp_path)


def _follow_through(server: Any, token: str, tmp_path: Path) -> None:
    folder = tmp_path / "marks"
    folder.mkdir()
    ran = server.cli(
        "run", "logs/talk/talk:latestAlpha", "-p", f"folder={folder}", "--detach", "--json",
        token=token,
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    rid = ran.json["id"]
    worker = server.spawn("worker", "--concurrency", "1")  # runs the server's tasks
    try:
        shown = wait_until(
            lambda: [
                e
                for e in server.cli(
                    "runs", "logs", rid, "--task", "held", "--json", token=token
                ).json
                if "first line" in e["text"]
            ],
            "the running task's first line through the server",
            120,
            explain=lambda: (
                f"started: {(folder / 'started').exists()}\n"
                + f"{sorted(str(p) for p in server.home.rglob('*.log'))}\n"
                + server.cli("runs", "show", rid, "--json", token=token).stdout
                + server.cli("runs", "logs", rid, "--json", token=token).stdout
                + server.log_text()[-3000:]
                + server.spawned_logs()[-3000:]
            ),
        )
        assert shown[0]["state"] == "running", shown
        assert shown[0]["text"] == "first line\n"

        # the route itself: a token is needed, a bad cursor is a 400 with the fix
        with server.http() as anonymous:
            assert anonymous.get(f"/api/v1/runs/{rid}/logs/tail").status_code == 401
        with server.http(token) as http:
            first = http.get(f"/api/v1/runs/{rid}/logs/tail", params={"task": "held"})
            assert first.status_code == 200, first.text
            body = first.json()
            assert body["done"] is False and body["engine_alive"] is True
            again = http.get(
                f"/api/v1/runs/{rid}/logs/tail", params={"task": "held", "cursor": body["cursor"]}
            ).json()
            assert again["entries"] == [] and again["done"] is False
            bad = http.get(f"/api/v1/runs/{rid}/logs/tail", params={"cursor": "nonsense!"})
            assert bad.status_code == 400 and "invalid log cursor" in bad.text
            missing = http.get(f"/api/v1/runs/{rid}/logs/tail", params={"task": "nosuch"})
            assert missing.status_code == 404 and "has no task 'nosuch'" in missing.text

        env = {**clean_env(server.home, server.database_url), "MLSTUDIO_URL": server.url}
        env["MLSTUDIO_TOKEN"] = token
        out = tmp_path / "follow.txt"
        err = tmp_path / "follow.err"
        with out.open("wb") as handle, err.open("wb") as errors:
            follower = subprocess.Popen(
                [mlstudio_executable(), "runs", "logs", rid, "--task", "held", "--follow"],
                env=env,
                stdout=handle,
                stderr=errors,
                stdin=subprocess.DEVNULL,
            )
        try:
            wait_until(lambda: "first line" in out.read_text(), "--follow to print the line")
            assert follower.poll() is None  # the task has not ended: still following
            (folder / "go").write_text("x")
            assert follower.wait(timeout=120) == 0, err.read_text()
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait(timeout=10)
        printed = out.read_text()
        assert printed == "── held (attempt 1)\nfirst line\nlast line\n", printed
        assert f"run {rid}: succeeded" in err.read_text()
    finally:
        (folder / "go").write_text("x")
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    wait_until(
        lambda: server.cli("runs", "show", rid, "--json", token=token).json["state"] == "succeeded",
        "the run to succeed",
        120,
    )
    # the same answer embedded and through the server, once the run has ended
    [entry] = server.same("runs", "logs", rid, "--task", "held", token=token)
    assert (entry["text"], entry["state"]) == ("first line\nlast line\n", "succeeded")
    refused = server.cli("runs", "logs", rid, "--task", "nosuch", "--follow", token=token)
    assert refused.code == 3 and "has no task 'nosuch'" in refused.stderr
