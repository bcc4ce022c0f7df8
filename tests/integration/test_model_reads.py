"""Model reads are governed reads, also on a cache hit (SQLite and Postgres).

A task that calls ``mlstudio.load_model("models:/NAME@ALIAS")`` records the read in its read
set (the uri, and the name, version and digest it resolved to). On a cache hit the engine
re-resolves every such uri and re-runs the registry's check for the new run's domain and user:
a moved alias makes the entry stale (the reason names the alias and both versions), a domain
that may not read the version's classification is not served from the cache (the task runs and
the registry refuses it, audited), and an allowed hit is recorded in the registry's reads.
In-task ``load_model`` reaches the run's own store from local workers and queue workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlstudio.testing.flows import start_mlstudio, task_of, wait_until

TASKS = """
import pandas as pd

from mlstudio import Model, task, workflow


class Mean:
    def __init__(self, value):
        self.value = value

    def predict(self, rows):
        return [self.value for _ in rows]


@task(classify={"*": "confidential"})
def make(n: int) -> pd.DataFrame:
    return pd.DataFrame({"y": [2.0 * i for i in range(n)]})


@task
def train(df: pd.DataFrame) -> Model:
    return Model(Mean(float(df["y"].mean())))


@task
def score(ref: str) -> float:
    from mlstudio import load_model

    first = load_model(ref)
    load_model(ref)  # the same uri twice: one read in the read set
    return float(first.predict([0])[0])


@workflow
def flow(n: int = 3):
    return train(make(n))


@workflow
def scoring(ref: str = "models:/churn@champion"):
    return score(ref)
"""


@pytest.fixture
def models(studio, tmp_path: Path) -> dict[str, Any]:
    """Module mr/models; model churn with versions 1 (mean 3.0) and 2 (mean 5.0), both
    confidential (inherited) and approved by carol; champion -> 1."""
    root = tmp_path / "mr-models"
    root.mkdir()
    (root / "module.toml").write_text(
        '[module]\nname = "mr/models"\ndescription = "model reads"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    studio.ok("namespace", "create", "mr")
    studio.ok("user", "add", "carol")
    studio.ok("namespace", "grant", "mr", "carol", "maintainer")
    studio.ok("module", "push", root, "--no-tests")
    runs = [studio.ok("run", "mr/models/flow:latestAlpha", "-p", f"n={n}") for n in (4, 6)]
    for number, run in enumerate(runs, start=1):
        assert run["state"] == "succeeded", run
        version = studio.ok("model", "register", "churn", "--run", run["id"], "--namespace", "mr")
        assert version["version"] == number and version["classification"] == "confidential"
        studio.ok("model", "approve", "churn", str(number), "--reason", "ok", user="carol")
    studio.ok("model", "alias", "churn", "champion", "1")
    return {"runs": runs}


def scoring(studio, *args: str) -> dict[str, Any]:
    result = studio.cli("run", "mr/models/scoring:latestAlpha", *args, "--json")
    assert result.json is not None, result.stderr
    return result.json


def model_loads(studio, decision: str) -> list[dict[str, Any]]:
    events = studio.ok("audit", "--action", "model.load", "--limit", "1000")
    return [e for e in events if e["decision"] == decision]


def reads_of(studio) -> list[tuple[int, str, str | None]]:
    shown = studio.ok("model", "show", "churn")
    return sorted((r["version"], r["domain"], r["run_id"]) for r in shown["reads"])


def test_an_unchanged_alias_in_the_same_domain_is_a_hit_recorded_as_a_read(studio, models):
    first = scoring(studio)
    assert first["state"] == "succeeded" and first["output_value"] == 3.0
    score = task_of(studio.ok("runs", "show", first["id"]), "score")
    assert score["cache_hit"] is False
    assert score["reads"]["models"] == ["models:/churn@champion → churn/1"]  # read twice: one
    second = scoring(studio)
    assert second["state"] == "succeeded" and second["output_value"] == 3.0
    assert task_of(studio.ok("runs", "show", second["id"]), "score")["cache_hit"] is True
    # the hit is a read of version 1 by the new run, like the computed one
    assert reads_of(studio) == sorted(
        [
            (1, "experimentation", first["id"]),
            (1, "experimentation", first["id"]),
            (1, "experimentation", second["id"]),
        ]
    )
    [hit] = [e for e in model_loads(studio, "allow") if e["details"]["run_id"] == second["id"]]
    assert hit["details"]["cached_from"] == first["id"] and hit["resource"] == "model:churn/1"
    assert model_loads(studio, "deny") == []


def test_a_stricter_domain_is_not_served_the_cached_result_and_the_read_is_denied(studio, models):
    cached = scoring(studio)
    assert cached["state"] == "succeeded"
    refused = scoring(studio, "--domain", "adhoc")  # adhoc may not read confidential
    assert refused["state"] == "failed", refused
    score = task_of(studio.ok("runs", "show", refused["id"], "--explain"), "score")
    assert score["cache_hit"] is False and score["state"] == "failed"
    assert "confidential" in score["error"]
    [reason] = score["explain"]["reasons"]
    assert "models:/churn@champion" in reason and "adhoc" in reason
    assert score["explain"]["compared_with_run"] == cached["id"]
    [denied] = model_loads(studio, "deny")  # the recomputation's, audited as always
    assert denied["details"]["domain"] == "adhoc" and denied["resource"] == "model:churn@champion"
    assert all(r[1] == "experimentation" for r in reads_of(studio))  # nothing read in adhoc


def test_a_moved_alias_recomputes_with_the_new_version_and_explain_names_the_alias(studio, models):
    before = scoring(studio)
    assert before["output_value"] == 3.0
    studio.ok("model", "alias", "churn", "champion", "2")
    after = scoring(studio)
    assert after["state"] == "succeeded" and after["output_value"] == 5.0
    score = task_of(studio.ok("runs", "show", after["id"], "--explain"), "score")
    assert score["cache_hit"] is False
    assert score["reads"]["models"] == ["models:/churn@champion → churn/2"]
    [reason] = score["explain"]["reasons"]
    assert "models:/churn@champion" in reason and "churn/1" in reason and "churn/2" in reason
    assert (2, "experimentation", after["id"]) in reads_of(studio)
    # one entry per key: it now holds version 2's result, which the next run reuses
    again = scoring(studio)
    assert again["output_value"] == 5.0
    assert task_of(studio.ok("runs", "show", again["id"]), "score")["cache_hit"] is True
    studio.ok("model", "alias", "churn", "champion", "1")  # moved back: stale again
    back = scoring(studio)
    assert back["output_value"] == 3.0
    assert task_of(studio.ok("runs", "show", back["id"]), "score")["cache_hit"] is False


def test_a_pinned_version_stays_a_hit_while_the_alias_moves(studio, models):
    pinned = scoring(studio, "-p", "ref=models:/churn/1")
    assert pinned["output_value"] == 3.0
    studio.ok("model", "alias", "churn", "champion", "2")
    again = scoring(studio, "-p", "ref=models:/churn/1")
    assert again["output_value"] == 3.0
    assert task_of(studio.ok("runs", "show", again["id"]), "score")["cache_hit"] is True


def test_load_model_in_a_task_on_a_queue_worker_reads_the_runs_store(studio, models, tmp_path):
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 - closed below
    worker = start_mlstudio(
        "worker", "--pool", "mr", "--concurrency", "1", env=studio.env(), output=log
    )
    try:
        shown = scoring(studio, "--pool", "mr", "--no-cache")
        assert shown["executor"] == "queue"
        assert shown["state"] == "succeeded", (tmp_path / "worker.log").read_text()
        assert shown["output_value"] == 3.0
        assert (1, "experimentation", shown["id"]) in reads_of(studio)
        refused = scoring(studio, "--pool", "mr", "--no-cache", "--domain", "adhoc")
        assert refused["state"] == "failed"
        [denied] = model_loads(studio, "deny")
        assert denied["details"]["domain"] == "adhoc"
    finally:
        worker.terminate()
        wait_until(lambda: worker.poll() is not None, "the worker to stop", 30)
        log.close()


def test_local_workers_are_handed_the_engines_store_not_the_environments(
    studio, models, tmp_path, monkeypatch
):
    """The engine's settings name the store; the environment its workers inherit names
    another (an empty SQLite home): the task's load_model still reads the run's registry."""
    from mlstudio.workflows.executors.local import LocalExecutor
    from mlstudio.workflows.executors.store import address_of
    from mlstudio.workflows.options import RunOptions

    with studio.opened() as platform:
        decoy = tmp_path / "decoy"
        monkeypatch.setenv("MLSTUDIO_HOME", str(decoy))
        monkeypatch.setenv("MLSTUDIO_DATABASE_URL", f"sqlite:///{decoy}/studio.db")
        executor = LocalExecutor(max_workers=1, store=address_of(platform.settings))
        executor.start()
        try:
            record = platform.runs.submit(
                "alice", "mr/models/scoring:latestAlpha", {}, RunOptions(no_cache=True)
            )
            run = platform.runs.execute(record.id, executor=executor)
        finally:
            executor.shutdown()
        assert run.state == "succeeded", run.error
        assert platform.runs.show(record.id, actor="alice")["output_value"] == 3.0
    assert (1, "experimentation", record.id) in reads_of(studio)
    assert not (decoy / "studio.db").exists()


@pytest.mark.slow
@pytest.mark.parametrize("studio", ["postgres"], indirect=True)
def test_load_model_in_a_task_on_ray_reads_the_runs_store(studio, models):
    """A Ray worker keeps the store its environment named before it dropped its credentials."""
    pytest.importorskip("ray")
    import ray

    try:
        shown = scoring(studio, "--executor", "ray", "--no-cache")
        assert shown["executor"] == "ray"
        assert shown["state"] == "succeeded", shown
        assert shown["output_value"] == 3.0
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert (1, "experimentation", shown["id"]) in reads_of(studio)


def test_checking_a_fan_out_of_hits_costs_one_query_per_distinct_uri(studio, models):
    """The engine checks one step's hits with one memo: resolving is one query per distinct
    uri, and the domain check is made once, however many cached tasks read the models."""
    from sqlalchemy import event

    from mlstudio.integrations.registry import reads

    with studio.opened() as platform:
        show = {v: studio.ok("model", "show", f"churn/{v}")["selected"]["digest"] for v in (1, 2)}
        entries = [
            {"uri": "models:/churn@champion", "name": "churn", "version": 1, "digest": show[1]},
            {"uri": "models:/churn/2", "name": "churn", "version": 2, "digest": show[2]},
        ]

        def check(fan_out: int) -> tuple[int, list[str], int]:
            statements: list[str] = []
            engine = platform.store.engine
            listen = lambda *args: statements.append(args[2])  # noqa: E731
            event.listen(engine, "before_cursor_execute", listen)
            try:
                memo: dict = {}
                allowed = 0
                with platform.store.read() as uow:
                    for _ in range(fan_out):
                        problems, ok = reads.check_cached(
                            uow, "alice", "experimentation", entries, memo
                        )
                        assert problems == []
                        allowed += len(ok)
            finally:
                event.remove(engine, "before_cursor_execute", listen)
            resolving = [s for s in statements if "registered_model_versions" in s]
            return len(resolving), statements, allowed

        one, few, allowed_one = check(1)
        many, lots, allowed_many = check(50)
    assert one == many == 2  # one per distinct uri
    assert len(lots) == len(few)  # nothing else grows with the fan-out either
    assert (allowed_one, allowed_many) == (2, 100)
