"""The model registry through the CLI, on SQLite and on Postgres: register a Model a run's task
returned, lineage and inherited classification, aliases with history, approvals, protected
aliases, permissions, webhook events and governed loading."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

CSV = "id,amount,region\n1,10.5,north\n2,20.0,south\n3,7.25,north\n"

TASKS = """
import pandas as pd

from mlstudio import Model, dataset, task, workflow


class Mean:
    def __init__(self, value):
        self.value = value

    def predict(self, rows):
        return [self.value for _ in rows]


@task(classify={"*": "confidential"})
def make(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n)), "y": [2.0 * i for i in range(n)]})


@task
def train(df: pd.DataFrame) -> Model:
    return Model(Mean(float(df["y"].mean())), rows=len(df))


@task
def fit_table(t: pd.DataFrame) -> Model:
    return Model(Mean(float(t["amount"].mean())))


@task(inline=True)
def constant() -> Model:
    return Model(Mean(1.0))


@task
def score(ref: str) -> float:
    from mlstudio import load_model

    return float(load_model(ref).predict([0])[0])


@workflow
def scoring(ref: str = "models:/churn/1"):
    return score(ref)


@workflow
def flow(n: int = 3):
    return train(make(n))


@workflow
def from_dataset():
    return fit_table(dataset("reg/people"))


@workflow
def public():
    return constant()
"""


def write_module(tmp_path: Path) -> Path:
    root = tmp_path / "reg-models"
    root.mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text(
        '[module]\nname = "reg/models"\ndescription = "registry"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    return root


@pytest.fixture
def setup(studio, tmp_path: Path) -> dict[str, Any]:
    """Namespace reg with module reg/models, users bob and carol (maintainer), one run of flow."""
    studio.ok("namespace", "create", "reg")
    studio.ok("user", "add", "bob")
    studio.ok("user", "add", "carol")
    studio.ok("namespace", "grant", "reg", "carol", "maintainer")
    studio.ok("module", "push", write_module(tmp_path), "--no-tests")
    run = studio.ok("run", "reg/models/flow:latestAlpha", "-p", "n=4")
    assert run["state"] == "succeeded"
    return run


def audit(studio, action: str) -> list[dict[str, Any]]:
    return studio.ok("audit", "--action", action, "--limit", "1000")


def test_register_records_digest_lineage_and_inherited_classification(studio, setup):
    run = setup
    version = studio.ok("model", "register", "churn", "--run", run["id"], "--namespace", "reg")
    assert version["ref"] == "churn/1" and version["version"] == 1
    assert version["classification"] == "confidential"  # inherited from make's output
    assert version["node"] == "train" and version["run_id"] == run["id"]
    assert version["module"] == "reg/models@1"
    assert len(version["digest"]) == 64
    assert version["approval"]["state"] == "pending"
    assert version["lineage"]["trained_by"] == "alice"
    again = studio.ok("model", "register", "churn", "--run", run["id"], "--task", "train")
    assert again["version"] == 2 and again["digest"] == version["digest"]
    listed = studio.ok("model", "list")
    assert [(m["name"], m["latest_version"], m["namespace"]) for m in listed] == [
        ("churn", 2, "reg")
    ]
    shown = studio.ok("model", "show", "churn/1")
    assert shown["selected"]["version"] == 1
    assert [v["version"] for v in shown["versions"]] == [2, 1]
    assert audit(studio, "model.register")[0]["decision"] == "allow"


def test_register_refuses_a_task_that_returned_no_model_and_changes_nothing(studio, setup):
    run = setup
    bad = studio.fails("model", "register", "churn", "--run", run["id"], "--task", "make", code=2)
    assert "not a Model" in bad.stderr
    studio.fails("model", "register", "churn", "--run", "nope-nope", code=3)
    studio.fails("model", "register", "bad name!", "--run", run["id"], code=2)
    assert studio.ok("model", "list") == []


def test_training_datasets_and_their_versions_are_the_lineage(studio, setup, tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text(CSV)
    studio.ok(
        "data",
        "import",
        csv,
        "--name",
        "reg/people",
        "--domain",
        "experimentation",
        "--classify",
        "id=internal",
        "--classify",
        "amount=confidential",
        "--classify",
        "region=internal",
    )
    run = studio.ok("run", "reg/models/from_dataset:latestAlpha")
    assert run["state"] == "succeeded", run
    version = studio.ok("model", "register", "spend", "--run", run["id"])
    (ds,) = version["lineage"]["datasets"]
    assert (ds["name"], ds["version"], ds["classification"]) == ("reg/people", 1, "confidential")
    assert version["classification"] == "confidential"


def test_alias_history_answers_which_version_was_champion_at_a_time(studio, setup):
    run = setup
    for _ in range(3):
        studio.ok("model", "register", "churn", "--run", run["id"], "--namespace", "reg")
    studio.ok("model", "protect", "churn", "champion", "--off")
    before = datetime.now(UTC)
    first = studio.ok("model", "alias", "churn", "champion", "1")
    assert (first["from_version"], first["to_version"], first["moved"]) == (None, 1, True)
    with studio.opened() as platform, platform.store.transaction() as uow:
        # push the first move an hour back, so the times below are unambiguous
        from sqlalchemy import update

        from mlstudio.store.metadata.tables import model_alias_events

        uow.conn.execute(update(model_alias_events).values(at=before - timedelta(hours=1)))
    second = studio.ok("model", "alias", "churn", "champion", "3")
    assert (second["from_version"], second["to_version"]) == (1, 3)
    same = studio.ok("model", "alias", "churn", "champion", "3")
    assert same["moved"] is False
    now = studio.ok("model", "show", "churn@champion")
    assert now["selected"]["version"] == 3 and now["selected"]["aliases"] == ["champion"]
    then = (before - timedelta(minutes=30)).isoformat()
    assert studio.ok("model", "show", "churn@champion", "--at", then)["selected"]["version"] == 1
    earlier = (before - timedelta(hours=2)).isoformat()
    missing = studio.fails("model", "show", "churn@champion", "--at", earlier, code=3)
    assert "pointed at no version" in missing.stderr
    history = now["alias_history"]
    assert [(e["from_version"], e["to_version"]) for e in history] == [(1, 3), (None, 1)]
    removed = studio.ok("model", "alias", "churn", "champion", "--delete")
    assert removed["to_version"] is None
    studio.fails("model", "show", "churn@champion", code=3)


def test_alias_on_a_missing_version_is_refused_and_changes_nothing(studio, setup):
    studio.ok("model", "register", "churn", "--run", setup["id"])
    bad = studio.fails("model", "alias", "churn", "challenger", "7", code=3)
    assert "no version 7" in bad.stderr
    studio.fails("model", "alias", "nosuch", "challenger", "1", code=3)
    studio.fails("model", "alias", "churn", "latest", "1", code=2)  # reserved name
    assert studio.ok("model", "show", "churn")["model"]["aliases"] == {}


def test_self_approval_is_refused_and_audited(studio, setup):
    studio.ok("model", "register", "churn", "--run", setup["id"], "--namespace", "reg")
    refused = studio.fails("model", "approve", "churn", "1", "--reason", "mine", code=4)
    assert "other than its author" in refused.stderr
    denials = [e for e in audit(studio, "model.approve") if e["decision"] == "deny"]
    assert len(denials) == 1 and denials[0]["actor"] == "alice"
    shown = studio.ok("model", "show", "churn/1")
    assert shown["selected"]["approval"]["state"] == "pending" and shown["decisions"] == []
    studio.fails("model", "approve", "churn", "1", "--reason", "", user="carol", code=2)


def test_protected_alias_needs_an_approval_by_someone_else(studio, setup):
    studio.ok("model", "register", "churn", "--run", setup["id"], "--namespace", "reg")
    refused = studio.fails("model", "alias", "churn", "champion", "1", code=4)
    assert "protected" in refused.stderr and "pending" in refused.stderr
    denials = [e for e in audit(studio, "model.alias") if e["decision"] == "deny"]
    assert len(denials) == 1 and denials[0]["resource"] == "model:churn@champion"
    assert studio.ok("model", "show", "churn")["model"]["aliases"] == {}
    # bob holds no role on the model: he may not approve it
    studio.fails("model", "approve", "churn", "1", "--reason", "ok", user="bob", code=4)
    rejected = studio.ok("model", "reject", "churn", "1", "--reason", "auc low", user="carol")
    assert rejected["approval"]["state"] == "rejected"
    studio.fails("model", "alias", "churn", "champion", "1", code=4)
    approved = studio.ok("model", "approve", "churn", "1", "--reason", "auc ok", user="carol")
    assert approved["approval"] == {
        "state": "approved",
        "by": "carol",
        "at": approved["approval"]["at"],
        "reason": "auc ok",
        "digest": approved["digest"],
    }
    moved = studio.ok("model", "alias", "churn", "champion", "1")
    assert moved["moved"] is True
    # an unprotected alias takes any version; a newly protected one does not
    studio.ok("model", "register", "churn", "--run", setup["id"])
    studio.ok("model", "alias", "churn", "challenger", "2")
    studio.ok("model", "protect", "churn", "challenger")
    studio.fails("model", "alias", "churn", "challenger", "2", user="carol", code=4)


def test_who_may_register_and_move_aliases(studio, setup):
    studio.ok("model", "register", "churn", "--run", setup["id"], "--namespace", "reg")
    studio.ok("user", "grant", "bob", "viewer", "--domain", "experimentation")
    denied = studio.fails("model", "register", "churn", "--run", setup["id"], user="bob", code=4)
    assert "owner alice" in denied.stderr
    studio.fails("model", "alias", "churn", "dev", "1", user="bob", code=4)
    assert studio.ok("model", "alias", "churn", "dev", "1", user="carol")["moved"] is True
    # bob may read, and create a model of his own (he owns it)
    assert studio.ok("model", "show", "churn", user="bob")["model"]["owner"] == "alice"
    mine = studio.ok("model", "register", "bobs", "--run", setup["id"], user="bob")
    assert mine["created_by"] == "bob"


def test_events_go_through_the_webhook_outbox(studio, setup):
    studio.ok(
        "webhook",
        "add",
        "https://example.invalid/hook",
        "--event",
        "model.version.created",
        "--event",
        "model.alias.moved",
        "--event",
        "model.approved",
    )
    studio.ok("model", "register", "churn", "--run", setup["id"], "--namespace", "reg")
    studio.ok("model", "approve", "churn", "1", "--reason", "good", user="carol")
    studio.ok("model", "alias", "churn", "champion", "1")
    with studio.opened() as platform, platform.store.read() as uow:
        from sqlalchemy import select

        from mlstudio.store.metadata.tables import webhook_deliveries

        rows = uow.conn.execute(
            select(webhook_deliveries.c.event, webhook_deliveries.c.payload).order_by(
                webhook_deliveries.c.id
            )
        ).all()
    assert [r.event for r in rows] == [
        "model.version.created",
        "model.approved",
        "model.alias.moved",
    ]
    assert rows[2].payload["data"]["to_version"] == 1
    assert rows[0].payload["data"]["classification"] == "confidential"


def test_load_model_checks_the_domain_before_unpickling(studio, setup, monkeypatch):
    import mlstudio

    studio.ok("model", "register", "churn", "--run", setup["id"], "--namespace", "reg")
    for key, value in studio.env().items():
        monkeypatch.setenv(key, value)
    calls: list[bytes] = []
    real = pickle.loads
    monkeypatch.setattr(pickle, "loads", lambda data, **kw: calls.append(data) or real(data, **kw))
    with pytest.raises(mlstudio.errors.PolicyViolationError) as refused:
        mlstudio.load_model("models:/churn/1", domain="adhoc")
    assert "confidential" in str(refused.value)
    assert calls == []  # nothing was unpickled
    denials = [e for e in audit(studio, "model.load") if e["decision"] == "deny"]
    assert len(denials) == 1 and denials[0]["details"]["domain"] == "adhoc"
    import sys

    sys.path.insert(0, str(setup_module_dir(studio)))
    try:
        model = mlstudio.load_model("models:/churn/1", domain="experimentation")
    finally:
        sys.path.pop(0)
    assert model.predict([1, 2]) == [3.0, 3.0]
    assert model.metadata["rows"] == 4
    shown = studio.ok("model", "show", "churn")
    assert [(r["version"], r["domain"]) for r in shown["reads"]] == [(1, "experimentation")]
    allowed = [e for e in audit(studio, "model.load") if e["decision"] == "allow"]
    assert len(allowed) == 1


def setup_module_dir(studio) -> Path:
    """Where the module's code is importable from (the pickle names ``tasks.Mean``)."""
    return studio.home.parent / "reg-models"


def test_load_model_in_a_task_reads_under_the_runs_domain(studio, setup):
    studio.ok("model", "register", "churn", "--run", setup["id"], "--namespace", "reg")
    ok = studio.ok("run", "reg/models/scoring:latestAlpha")
    assert ok["state"] == "succeeded", ok
    reads = studio.ok("model", "show", "churn")["reads"]
    assert [(r["domain"], r["run_id"], r["node"]) for r in reads] == [
        ("experimentation", ok["id"], "score")
    ]
    refused = studio.cli(
        "run", "reg/models/scoring:latestAlpha", "--domain", "adhoc", "--no-cache", "--json"
    )
    assert refused.code != 0 and refused.json["state"] == "failed"
    denials = [e for e in audit(studio, "model.load") if e["decision"] == "deny"]
    assert len(denials) == 1 and denials[0]["details"]["domain"] == "adhoc"
