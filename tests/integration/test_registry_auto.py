"""``@task(register="NAME")``: the Model a task returns becomes the next version of NAME when the
task ends, as the run's user, in the engine step's transaction (SQLite and Postgres)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlstudio.errors import InvalidNameError

TASKS = """
from mlstudio import Model, current, task, workflow


class Mean:
    def __init__(self, value):
        self.value = value

    def predict(self, rows):
        return [self.value for _ in rows]


@task(register="auto-mean")
def train(n: int) -> Model:
    for step in range(3):
        current().log_metric("loss", 1.0 / (step + n), step=step)
    current().log_metric("mae", n / 10)
    return Model(Mean(float(n)), n=n)


@task(register="auto-mean")
def not_a_model() -> int:
    return 1


@workflow
def flow(n: int = 3):
    return train(n)


@workflow
def wrong():
    return not_a_model()


@task(register="auto-ranked", alias="challenger")
def challenger(n: int) -> Model:
    return Model(Mean(float(n)), n=n)


@task(register="auto-ranked", alias="champion")
def champion(n: int) -> Model:
    return Model(Mean(float(n)), n=n)


@workflow
def retrain(n: int = 3):
    return challenger(n)


@workflow
def crown(n: int = 3):
    return champion(n)
"""


@pytest.fixture
def module(studio, tmp_path: Path) -> str:
    root = tmp_path / "auto-models"
    root.mkdir()
    (root / "module.toml").write_text(
        '[module]\nname = "auto/models"\ndescription = "auto registration"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    studio.ok("namespace", "create", "auto")
    studio.ok("module", "push", root, "--no-tests")
    return "auto/models"


def registrations(studio, decision: str | None = None) -> list[dict[str, Any]]:
    rows = studio.ok("audit", "--action", "model.register", "--limit", "100")
    return [r for r in rows if decision is None or r["decision"] == decision]


def test_a_task_registers_its_model_once_per_artifact(studio, module):
    run = studio.ok("run", f"{module}/flow:latestAlpha", "-p", "n=3")
    assert run["state"] == "succeeded"
    shown = studio.ok("model", "show", "auto-mean/1")
    version = shown["selected"]
    assert version["source"] == f"run:{run['id']}/train"
    assert (version["created_by"], version["module"]) == ("alice", "auto/models@1")
    assert shown["model"]["namespace"] == "auto"  # the module's namespace
    # the lineage carries what the task logged: each metric's latest value, and its tracked run
    assert version["lineage"]["metrics"] == {"loss": pytest.approx(1 / 5), "mae": 0.3}
    with studio.opened() as p:
        tracked = p.tracking.get_run(version["lineage"]["tracking_run"])
    assert tracked["tags"]["mlstudio.workflow_run"] == run["id"]
    # the cached re-run reuses the artifact: no second version
    again = studio.ok("run", f"{module}/flow:latestAlpha", "-p", "n=3")
    assert {t["state"] for t in studio.ok("runs", "show", again["id"])["tasks"]} == {"cached"}
    assert [v["version"] for v in studio.ok("model", "show", "auto-mean")["versions"]] == [1]
    # new parameters, a new model: the next version
    studio.ok("run", f"{module}/flow:latestAlpha", "-p", "n=5")
    versions = studio.ok("model", "show", "auto-mean")["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert [(r["actor"], r["decision"]) for r in registrations(studio)] == [
        ("alice", "allow"),
        ("alice", "allow"),
    ]


def test_a_registration_the_user_may_not_make_is_audited_and_the_run_goes_on(studio, module):
    studio.ok("run", f"{module}/flow:latestAlpha", "-p", "n=3")  # alice owns auto-mean
    studio.ok("user", "add", "bob")
    studio.ok("user", "grant", "bob", "runner", "--domain", "experimentation")
    studio.ok("namespace", "grant", "auto", "bob", "reader")
    run = studio.ok("run", f"{module}/flow:latestAlpha", "-p", "n=7", user="bob")
    assert run["state"] == "succeeded"
    assert [v["version"] for v in studio.ok("model", "show", "auto-mean")["versions"]] == [1]
    (denied,) = registrations(studio, "deny")
    assert denied["actor"] == "bob" and denied["resource"] == "model:auto-mean"
    assert "owner alice" in denied["details"]["reason"]
    assert denied["details"]["run"] == run["id"]


def test_register_on_a_task_without_a_model_is_refused_in_the_audit(studio, module):
    run = studio.ok("run", f"{module}/wrong:latestAlpha")
    assert run["state"] == "succeeded" and run["output_value"] == 1
    (denied,) = registrations(studio, "deny")
    assert "did not return a Model" in denied["details"]["reason"]
    assert studio.fails("model", "show", "auto-mean").code != 0


def test_register_takes_a_model_name():
    from mlstudio import task

    with pytest.raises(InvalidNameError, match="invalid model name"):
        task(register="not a name")(lambda: None)


def alias_moves(studio, decision: str) -> list[dict[str, Any]]:
    rows = studio.ok("audit", "--action", "model.alias", "--limit", "100")
    return [r for r in rows if r["decision"] == decision]


def test_a_registering_task_moves_its_alias_to_each_new_version(studio, module):
    first = studio.ok("run", f"{module}/retrain:latestAlpha", "-p", "n=3")
    assert first["state"] == "succeeded"
    assert studio.ok("model", "show", "auto-ranked")["model"]["aliases"] == {"challenger": 1}
    # a cached re-run registers nothing, so the alias stays where it is (here: moved by hand)
    studio.ok("run", f"{module}/retrain:latestAlpha", "-p", "n=4")
    studio.ok("model", "alias", "auto-ranked", "challenger", "1")
    studio.ok("run", f"{module}/retrain:latestAlpha", "-p", "n=4")
    assert studio.ok("model", "show", "auto-ranked")["model"]["aliases"] == {"challenger": 1}
    studio.ok("run", f"{module}/retrain:latestAlpha", "-p", "n=5")
    shown = studio.ok("model", "show", "auto-ranked")
    assert shown["model"]["aliases"] == {"challenger": 3}
    history = [(e["from_version"], e["to_version"]) for e in shown["alias_history"]]
    assert history[0] == (1, 3)
    allowed = alias_moves(studio, "allow")
    assert [r["actor"] for r in allowed] == ["alice"] * 4
    assert not alias_moves(studio, "deny")


def test_a_protected_alias_is_not_moved_by_a_run_and_the_refusal_is_audited(studio, module):
    run = studio.ok("run", f"{module}/crown:latestAlpha", "-p", "n=3")
    assert run["state"] == "succeeded"
    shown = studio.ok("model", "show", "auto-ranked")
    assert [v["version"] for v in shown["versions"]] == [1]  # registered…
    assert shown["model"]["aliases"] == {}  # …but champion needs an approved version
    (denied,) = alias_moves(studio, "deny")
    assert denied["resource"] == "model:auto-ranked@champion"
    assert "protected" in denied["details"]["reason"]
    assert (denied["details"]["run"], denied["details"]["to"]) == (run["id"], 1)


def test_alias_needs_register_and_a_valid_name():
    from mlstudio import task
    from mlstudio.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="needs register="):
        task(alias="challenger")(lambda: None)
    with pytest.raises(InvalidNameError, match="reserved"):
        task(register="m", alias="v2")(lambda: None)
