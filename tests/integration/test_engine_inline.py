"""``@task(inline=True)``: a tiny task runs in the engine's process instead of a worker, with
the same durability, governance gate, caching and results (SQLite and Postgres)."""

from __future__ import annotations

import os

import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.testing.flows import marker, task_of, write_flow

FLOW = """
import os
from pathlib import Path

import pyarrow as pa

from mlstudio import dataset, task, workflow

@task(inline=True)
def here(x: int) -> int:
    return os.getpid()

@task
def there(x: int) -> int:
    return os.getpid()

@task(inline=True)
def pair(a: int, b: int) -> list:
    return [a, b]

@workflow
def where(x: int = 1) -> list:
    return pair(here(x), there(x))

@task(inline=True, retries=1, retry_delay=0)
def flaky(name: str) -> str:
    path = Path(MARKERS) / name
    if not path.exists():
        path.write_text("first attempt")
        raise RuntimeError("first attempt fails")
    return "second attempt"

@workflow
def retried(name: str = "flaky") -> str:
    return flaky(name)

@task(inline=@INLINE@)
def emails() -> pa.Table:
    return pa.table({"email": ["a@x.com"]})

@workflow
def unclassified():
    return emails()

@task(inline=True)
def count(t: pa.Table) -> int:
    Path(MARKERS, "count-ran").write_text("user code ran")
    return t.num_rows

@workflow
def reads_pii():
    return count(dataset("shop/customers"))
"""


def flow_file(tmp_path, inline: bool = True):
    return write_flow(tmp_path, FLOW.replace("@INLINE@", str(inline)))


def test_an_inline_task_runs_in_the_engine_and_is_recorded_and_cached(studio, tmp_path):
    flow = flow_file(tmp_path)
    with studio.opened() as platform:
        record = platform.runs.submit("alice", f"{flow}:where", {"x": "3"})
        run = platform.runs.execute(record.id)
        assert run.state == "succeeded"
        engine_pid, worker_pid = platform.runs.output_value(run)
        assert engine_pid == os.getpid() and worker_pid != os.getpid()
        with platform.store.read() as uow:
            rows = {r.node_id: r for r in uow.runs.task_runs_of(run.id)}
        for node in ("here", "there", "pair"):
            row = rows[node]
            assert row.state == "succeeded" and row.attempt == 1, node
            assert row.started_at is not None and row.finished_at is not None, node
            assert row.cache_key and row.output is not None, node

        again = platform.runs.execute(platform.runs.submit("alice", f"{flow}:where", {"x": "3"}).id)
        with platform.store.read() as uow:
            states = {r.node_id: (r.state, r.cache_hit) for r in uow.runs.task_runs_of(again.id)}
        assert states == {n: ("cached", True) for n in ("here", "there", "pair")}
        assert platform.runs.output_value(again) == [engine_pid, worker_pid]


def test_an_inline_task_is_retried_like_any_other(studio, tmp_path):
    flow = flow_file(tmp_path)
    run = studio.ok("run", f"{flow}:retried")
    assert run["state"] == "succeeded" and run["output_value"] == "second attempt"
    task = task_of(run, "flaky")
    assert task["attempt"] == 2 and marker(tmp_path, "flaky").exists()


@pytest.mark.parametrize("inline", [True, False])
def test_an_inline_output_is_classified_and_checked_like_a_workers(studio, tmp_path, inline):
    flow = flow_file(tmp_path, inline)
    result = studio.cli("run", f"{flow}:unclassified", "--json")
    assert result.code == 1
    task = task_of(result.json, "emails")
    assert task["state"] == "failed" and task["attempt"] == 1
    assert task["error"].startswith("denied before writing:")
    assert "email" in task["error"] and "unclassified" in task["error"]
    (denied,) = [
        e
        for e in studio.ok("audit", "--action", "data.write")
        if e["resource"].startswith(f"run:{result.json['id']}")
    ]
    assert denied["decision"] == "deny" and denied["details"]["error"] == task["error"]


def test_an_inline_task_is_denied_its_reads_before_it_runs(studio, tmp_path):
    studio.ok("namespace", "create", "shop")
    csv = tmp_path / "customers.csv"
    csv.write_text("id,email\n1,a@x.com\n2,b@y.com\n")
    studio.ok(
        "data", "import", csv, "--name", "shop/customers",
        "--classify", "email=confidential+pii", "--classify", "id=internal",
    )  # fmt: skip
    flow = flow_file(tmp_path)
    result = studio.cli("run", f"{flow}:reads_pii", "--domain", "experimentation", "--json")
    assert result.code == 1
    task = task_of(result.json, "count")
    assert task["state"] == "failed" and task["attempt"] == 0
    assert task["error"].startswith("denied:") and "pii" in task["error"]
    assert not marker(tmp_path, "count-ran").exists()


def test_inline_and_timeout_are_refused_together():
    from mlstudio import task

    with pytest.raises(InvalidInputError, match="cannot be timed out"):
        task(inline=True, timeout=5)
