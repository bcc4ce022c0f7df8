"""Logs you can follow, no line lost, dead engines detected (issue 10, points 5-7).

Real engine processes (``mlstudio run`` in the background) on SQLite and Postgres: a task's
lines are shown while it runs, ``--follow`` ends with the task, a kill -9 of the engine or a
``runs cancel`` keeps every line printed (a partial one too), and a run whose engine died says
so, with the fix."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from mlstudio.errors import InvalidInputError, NotFoundError
from mlstudio.testing.flows import (
    kill_group,
    lines,
    pid_alive,
    start_mlstudio,
    touch,
    wait_until,
    write_flow,
)

SLOW = """
from mlstudio import task, workflow

@task(cache="off")
def slow(n: int) -> int:
    print("step 1 of", n)
    mark("slow.started", str(os.getpid()))
    wait_for("go")
    print("step 2", end="")  # a partial line: on disk as written too
    return n

@workflow
def talk(n: int = 2) -> int:
    return slow(n)
"""

FAN = """
import sys

from mlstudio import task, workflow

@task
def items() -> list[int]:
    return [0, 1, 2]

@task(cache="off")
def work(i: int) -> int:
    print(f"line {i}")
    sys.stderr.write(f"partial {i}")  # no newline
    mark(f"work{i}", str(os.getpid()))
    wait_for("free")  # until the test lets them finish (after a kill, a cancel)
    return i

@workflow
def fan() -> list[int]:
    return work.map(i=items())
"""


def _texts(entries: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(e["node"], e["attempt"]): e for e in entries}


def test_logs_show_lines_while_the_task_runs_and_follow_ends_with_it(studio, tmp_path):
    flow = write_flow(tmp_path, SLOW)
    rid = studio.ok("run", f"{flow}:talk", "--detach")["id"]
    try:
        # while it runs: its first line is there (poll with a deadline, never sleep-and-hope)
        shown = wait_until(
            lambda: [
                e for e in studio.ok("runs", "logs", rid, "--task", "slow") if "step 1" in e["text"]
            ],
            "the running task's first line",
        )
        assert shown[0]["text"] == "step 1 of 2\n" and shown[0]["state"] == "running"
        human = studio.cli("runs", "logs", rid, "--task", "slow")
        assert human.code == 0 and "── slow (attempt 1)" in human.stdout
        assert "step 1 of 2" in human.stdout

        out = tmp_path / "follow.txt"
        with out.open("wb") as handle:
            follower = start_mlstudio(
                "runs", "logs", rid, "--task", "slow", "--follow", env=studio.env(), output=handle
            )
        wait_until(lambda: "step 1 of 2" in out.read_text(), "--follow to print the first line")
        assert follower.poll() is None  # still following: the task has not ended
        touch(tmp_path, "go")
        assert follower.wait(timeout=120) == 0
        printed = out.read_text()
        assert printed.startswith("── slow (attempt 1)\nstep 1 of 2\nstep 2\n"), printed
        assert printed.count("step 1 of 2") == 1  # each line once
        assert f"run {rid}: succeeded" in printed
    finally:
        touch(tmp_path, "go")
    assert studio.ok("runs", "show", rid)["state"] == "succeeded"
    [entry] = studio.ok("runs", "logs", rid, "--task", "slow")
    assert (entry["text"], entry["state"]) == ("step 1 of 2\nstep 2", "succeeded")


def test_log_tail_returns_each_line_once_and_a_bad_cursor_is_refused(studio, tmp_path):
    from mlstudio.app.local import LocalStudio

    flow = write_flow(tmp_path, SLOW)
    rid = studio.ok("run", f"{flow}:talk", "--detach")["id"]
    try:
        with studio.opened() as platform:
            runs = LocalStudio(platform, "alice").runs
            first = runs.log_tail(rid, task="slow")
            cursor = first["cursor"]
            assert first["done"] is False
            texts = [e["text"] for e in first["entries"]]
            while "step 1 of 2\n" not in texts:  # before its first line: at most a note, once
                assert all(not t for t in texts), texts
                first = wait_until(
                    lambda cur=cursor: (
                        (c := runs.log_tail(rid, task="slow", cursor=cur))["entries"] and c
                    ),
                    "the first line",
                )
                cursor, texts = first["cursor"], [e["text"] for e in first["entries"]]
            assert texts == ["step 1 of 2\n"]
            assert first["done"] is False and first["engine_alive"] is True
            again = runs.log_tail(rid, task="slow", cursor=first["cursor"])
            assert again["entries"] == [] and again["done"] is False  # nothing new
            touch(tmp_path, "go")
            last = wait_until(
                lambda: (
                    (c := runs.log_tail(rid, task="slow", cursor=first["cursor"]))["done"] and c
                ),
                "the task to end",
            )
            assert "".join(e["text"] for e in last["entries"]) == "step 2"
            # the task has ended; the run settles right after it (its state is polled, not raced)
            wait_until(
                lambda: runs.log_tail(rid, task="slow")["run"] == "succeeded", "the run to end"
            )
            for bad in ("nonsense!", "eyJhIjogLTF9"):  # not base64 / not an offsets map
                with pytest.raises(InvalidInputError, match="invalid log cursor") as caught:
                    runs.log_tail(rid, cursor=bad)
                assert caught.value.hint and "previous call" in caught.value.hint
            with pytest.raises(NotFoundError, match="has no task 'nosuch'"):
                runs.log_tail(rid, task="nosuch")
    finally:
        touch(tmp_path, "go")
    refused = studio.fails("runs", "logs", rid, "--task", "nosuch", "--follow", code=3)
    assert "has no task 'nosuch'" in refused.stderr
    studio.fails("runs", "logs", "run_doesnotexist", "--follow", code=3)


def _ageless(note: str) -> str:
    import re

    return re.sub(r"heartbeat \d+s ago", "heartbeat ?s ago", note)


def _started(tmp_path: Any) -> dict[int, int]:
    """map item -> the pid of its worker's first attempt, for the items that started."""
    return {i: int(lines(tmp_path, f"work{i}")[0]) for i in range(3) if lines(tmp_path, f"work{i}")}


def test_kill_9_of_the_engine_loses_no_line_and_the_run_says_its_engine_is_gone(studio, tmp_path):
    flow = write_flow(tmp_path, FAN)
    proc = start_mlstudio("run", f"{flow}:fan", "--json", env=studio.env())
    try:
        # the first item starts first (it used to wait longest for a worker), then another
        wait_until(lambda: len(_started(tmp_path)) >= 2, "two mapped tasks to start")
    finally:
        kill_group(proc)  # SIGKILL: the engine and its workers
    started = _started(tmp_path)
    assert 0 in started, started
    for pid in started.values():
        wait_until(lambda pid=pid: not pid_alive(pid), "the killed worker to be gone")

    [listed] = studio.ok("runs", "list")
    rid = listed["id"]
    assert (listed["state"], listed["engine_alive"]) == ("running", False)
    assert f"mlstudio runs resume {rid}" in listed["engine_note"]
    assert "is gone" in listed["engine_note"]
    human = studio.cli("runs", "list")
    assert "engine gone" in human.stdout and f"mlstudio runs resume {rid}" in human.stdout
    shown = studio.ok("runs", "show", rid)
    assert shown["engine_alive"] is False
    assert _ageless(shown["engine_note"]) == _ageless(listed["engine_note"])  # "Ns ago" moves on
    assert "engine gone:" in studio.cli("runs", "show", rid).stdout

    entries = _texts(studio.ok("runs", "logs", rid, "--task", "work"))
    for i in range(3):
        entry = entries[(f"work[{i}]", 1)]
        if i in started:  # every line it printed, the partial one too
            assert entry["text"] == f"line {i}\npartial {i}", entry
        else:
            assert (entry["text"], entry["note"]) == ("", "never started: the run's engine is gone")
    follow = studio.fails("runs", "logs", rid, "--follow", code=5)  # it would wait forever
    assert "engine" in follow.stderr and f"mlstudio runs resume {rid}" in follow.stderr

    touch(tmp_path, "free")
    resumed = studio.ok("runs", "resume", rid)
    assert resumed["state"] == "succeeded" and resumed["engine_alive"] is None
    assert resumed["engine_note"] is None
    after = _texts(studio.ok("runs", "logs", rid, "--task", "work"))
    for i in started:  # the lost attempts keep their lines beside the new ones
        assert after[(f"work[{i}]", 1)]["text"] == f"line {i}\npartial {i}"
        assert after[(f"work[{i}]", 1)]["state"] == "retried"
        assert after[(f"work[{i}]", 2)]["text"] == f"line {i}\npartial {i}"
    assert studio.ok("runs", "list")[0]["engine_alive"] is None


def test_cancel_keeps_every_line_of_the_started_tasks(studio, tmp_path):
    flow = write_flow(tmp_path, FAN)
    rid = studio.ok("run", f"{flow}:fan", "--detach")["id"]
    wait_until(lambda: len(_started(tmp_path)) >= 2, "two mapped tasks to start")
    assert studio.ok("runs", "show", rid)["engine_alive"] is True
    studio.ok("runs", "cancel", rid)
    wait_until(
        lambda: studio.ok("runs", "show", rid)["state"] == "cancelled", "the run to be cancelled"
    )
    started = _started(tmp_path)
    assert 0 in started
    entries = _texts(studio.ok("runs", "logs", rid))
    for i in range(3):
        entry = entries[(f"work[{i}]", 1)]
        assert entry["state"] == "cancelled"
        if i in started:
            assert entry["text"] == f"line {i}\npartial {i}", entry
        else:
            assert entry["note"] == "cancelled before it started: no output"
    shown = studio.ok("runs", "show", rid)
    assert shown["engine_alive"] is None and shown["engine_note"] is None
    # following a finished run prints everything once and ends at once
    done = subprocess.run(
        [*_cli(), "runs", "logs", rid, "--follow"],
        env={**_environ(), **studio.env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for i in started:
        assert done.stdout.count(f"line {i}\npartial {i}") == 1
    assert f"run {rid}: cancelled" in done.stderr


def _cli() -> list[str]:
    from mlstudio.testing.flows import mlstudio_executable

    return [mlstudio_executable()]


def _environ() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("MLSTUDIO_URL", None)
    return env


def test_a_queue_run_whose_engine_died_says_a_servers_driver_takes_it_over(studio, tmp_path):
    from mlstudio.app.local import LocalStudio

    flow = write_flow(tmp_path, SLOW)
    # no worker: its task waits in the queue while the engine (this process) drives the run
    proc = start_mlstudio("run", f"{flow}:talk", "--executor", "queue", env=studio.env())
    try:
        wait_until(
            lambda: [r for r in studio.ok("runs", "list") if r["state"] == "running"],
            "the queue run to be running",
        )
        [alive] = studio.ok("runs", "list")
        assert (alive["engine_alive"], alive["engine_note"]) == (True, None)
    finally:
        kill_group(proc)
    rid = alive["id"]
    wait_until(lambda: studio.ok("runs", "show", rid)["engine_alive"] is False, "the dead engine")
    embedded = studio.ok("runs", "show", rid)["engine_note"]
    assert "is gone" in embedded and "a server's run driver" in embedded
    assert f"mlstudio runs resume {rid}" in embedded
    with studio.opened() as platform:
        # as the API answers it: this server's driver takes it over
        note = LocalStudio(platform, "alice", served=True).runs.show(rid)["engine_note"]
    assert "this server's run driver takes such runs over" in note
    assert f"mlstudio runs resume {rid}" in note
