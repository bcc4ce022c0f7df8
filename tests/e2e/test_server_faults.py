"""A whole deployment under faults: real ``mlstudio server`` and ``mlstudio worker`` processes on
one Postgres database. The server is killed with SIGKILL mid-run and restarted; two servers run
side by side; nothing is lost, nothing runs twice."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from mlstudio.testing.flows import wait_until

Server = Any  # tests/e2e/conftest.py's Server


pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DEADLINE_S = 120.0

# Each task appends a line to DIR/<task>.log when it starts; ``held`` then waits for DIR/go and
# appends to DIR/held.done when it returns, so a test can tell starts from finishes. Nothing
# is cached: every run computes every task, so the marks count executions.
CHAIN = """
import time
from pathlib import Path

from mlstudio import task, workflow


def mark(folder: str, name: str) -> None:
    with open(Path(folder) / f"{name}.log", "a") as out:
        out.write("x\\n")


@task(cache="off")
def first(folder: str, x: int) -> int:
    mark(folder, f"first-{x}")
    return x + 1


@task(cache="off")
def held(folder: str, x: int) -> int:
    mark(folder, f"held-{x}")
    while not (Path(folder) / "go").exists():
        time.sleep(0.05)
    mark(folder, f"held-{x}.done")
    return x * 10


@task(cache="off")
def last(folder: str, x: int) -> int:
    mark(folder, f"last-{x}")
    return x + 5


@workflow
def chain(folder: str, x: int = 1) -> int:
    return last(folder, held(folder, first(folder, x)))


@workflow
def quick(folder: str, x: int = 1) -> int:
    return last(folder, first(folder, x))
"""


def count(folder: Path, name: str) -> int:
    path = folder / f"{name}.log"
    return len(path.read_text().splitlines()) if path.exists() else 0


def push_chain(server: Server, root: Path) -> None:
    module = root / "chainmod"
    module.mkdir(parents=True)
    (module / "module.toml").write_text(
        '[module]\nname = "ops/chain"\ndescription = "faults"\nrequirements = []\n'
    )
    (module / "tasks.py").write_text(CHAIN)
    assert server.cli("namespace", "create", "ops", "--json").code == 0
    pushed = server.cli("module", "push", module, "--no-tests", "--json")
    assert pushed.code == 0, pushed.stderr


def submit(server: Server, token: str, workflow: str, params: dict[str, Any]) -> str:
    with server.http(token) as http:
        answer = http.post(
            f"/api/v1/workflows/ops/chain/{workflow}:latestAlpha/runs", json={"params": params}
        )
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def run_state(server: Server, token: str, run_id: str) -> dict[str, Any]:
    with server.http(token) as http:
        answer = http.get(f"/api/v1/runs/{run_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def finished(server: Server, token: str, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        data = run_state(server, token, run_id)
        return data if data["state"] in ("succeeded", "failed", "cancelled") else None

    return wait_until(done, f"run {run_id} to finish", DEADLINE_S)


@pytest.fixture
def stop_later() -> Any:
    procs: list[Any] = []
    yield procs.append
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except Exception:
                proc.kill()


def test_a_server_killed_mid_run_is_restarted_and_the_run_finishes_without_redoing_work(
    server_factory: Any, tmp_path: Path, stop_later: Any
) -> None:
    server = server_factory("postgres")
    token = server.token()
    push_chain(server, tmp_path)
    folder = tmp_path / "marks"
    folder.mkdir()
    worker = server.spawn("worker", "--concurrency", "2")
    stop_later(worker)

    run_id = submit(server, token, "chain", {"folder": str(folder), "x": 1})
    wait_until(lambda: count(folder, "held-2"), "the held task to start on the worker", DEADLINE_S)
    assert run_state(server, token, run_id)["state"] == "running"

    server.proc.kill()  # SIGKILL: no shutdown, its run driver's engine dies mid-run
    server.proc.wait(timeout=30)
    (folder / "go").touch()  # the task finishes while no server is up
    wait_until(
        lambda: count(folder, "held-2.done"), "the held task to finish on the worker", DEADLINE_S
    )

    restarted = server_factory(like=server)
    shown = finished(restarted, token, run_id)
    assert (shown["state"], shown["output_value"]) == ("succeeded", 25), shown
    # every task ran exactly once: the held attempt was adopted, not redone
    assert [count(folder, n) for n in ("first-1", "held-2", "held-2.done", "last-20")] == [
        1,
        1,
        1,
        1,
    ]
    attempts = {t["task"]: t["attempt"] for t in shown["tasks"]}
    assert attempts == {"first": 1, "held": 1, "last": 1}, shown["tasks"]
    # the restarted server takes new work as usual
    again = submit(restarted, token, "quick", {"folder": str(folder), "x": 7})
    assert finished(restarted, token, again)["output_value"] == 13


def test_two_servers_on_one_database_never_run_anything_twice(
    server_factory: Any, tmp_path: Path, stop_later: Any
) -> None:
    one = server_factory("postgres")
    two = server_factory(like=one)
    token = one.token()
    push_chain(one, tmp_path)
    folder = tmp_path / "marks"
    folder.mkdir()
    (folder / "go").touch()
    for _ in range(2):
        stop_later(one.spawn("worker", "--concurrency", "2"))

    # 24 runs, submitted alternately to either server's API
    ids = [
        submit(one if i % 2 == 0 else two, token, "quick", {"folder": str(folder), "x": i})
        for i in range(24)
    ]
    assert len(set(ids)) == 24
    outputs = {run_id: finished(two, token, run_id) for run_id in ids}
    assert all(o["state"] == "succeeded" for o in outputs.values())
    assert sorted(o["output_value"] for o in outputs.values()) == [i + 6 for i in range(24)]
    for i in range(24):
        assert (count(folder, f"first-{i}"), count(folder, f"last-{i + 1}")) == (1, 1), i

    # a schedule with three missed ticks fires each exactly once between the two servers
    platform = one.platform()
    from datetime import timedelta

    from mlstudio.core.clock import utcnow

    added = one.cli(
        "schedule",
        "add",
        "ops/chain/quick:latestAlpha",
        "--cron",
        "* * * * *",
        "--catchup",
        "all",
        "-p",
        f"folder={folder}",
        "-p",
        "x=100",
        "--json",
    )
    assert added.code == 0, added.stderr
    schedule_id = added.json["id"]
    start = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=3)
    with platform.store.transaction() as uow:
        uow.schedules.update(schedule_id, next_fire_at=start)

    def all_ran() -> list[dict[str, Any]] | None:
        fires = platform.schedules.get("alice", schedule_id)["recent"]
        done = all(f["run_state"] == "succeeded" for f in fires)
        return fires if len(fires) >= 4 and done else None

    wait_until(all_ran, "the four missed ticks to fire and their runs to succeed", DEADLINE_S)
    assert one.cli("schedule", "pause", schedule_id, "--json").code == 0
    # a new minute may have fired
    fires = wait_until(all_ran, "every fire's run to succeed", DEADLINE_S)
    ticks = [f["tick"] for f in fires]
    assert len(ticks) == len(set(ticks))  # no tick fired twice
    assert len({f["run_id"] for f in fires}) == len(fires)
    assert count(folder, "first-100") == len(fires)  # one run per fire, each run once
