"""``module promote`` through a module's declared ``[evaluation]`` gate, on SQLite and Postgres:
a new version moves ``latest`` only when its runs' predictions are non-inferior to the promoted
version's on the evaluation set (compared with the paired machinery of ``eval compare``);
failures refuse with the verdict, an approver overrides with a reason (audited), a module
without the table promotes as before; the same through the API."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TASKS = """
import math

import pandas as pd

from mlstudio import dataset, task, workflow

WEIGHT = {weight}


@task
def score(t: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({{"prediction": [1 / (1 + math.exp(-WEIGHT * x)) for x in t["x"]]}})


@workflow
def predict():
    return score(dataset("gm/holdout"))
"""

MODULE_TEST = """def test_weight_is_a_number():
    import tasks

    assert isinstance(tasks.WEIGHT, float)
"""

EVALUATION = """
[evaluation]
dataset = "{dataset}"
workflow = "predict"
column = "prediction"
label = "y"
metric = "log_loss"
margin = 0.01
slices = ["plan"]
"""


@pytest.fixture
def gm(studio, tmp_path: Path) -> dict[str, Any]:
    """gm/holdout (400 items: x, plan, y with P(y) = sigmoid(2x)), users bob (maintainer of gm)
    and carol (no role)."""
    studio.ok("namespace", "create", "gm")
    studio.ok("user", "add", "bob")
    studio.ok("user", "add", "carol")
    studio.ok("namespace", "grant", "gm", "bob", "maintainer")
    rng = np.random.default_rng(7)
    x = rng.normal(size=400)
    y = (rng.random(400) < 1 / (1 + np.exp(-2.0 * x))).astype(int)
    path = tmp_path / "holdout.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "plan", "y"])
        for i in range(400):
            writer.writerow([round(float(x[i]), 6), "ab"[i % 2], int(y[i])])
    studio.ok("data", "import", path, "--name", "gm/holdout", "--classify", "x=internal",
              "--classify", "plan=internal", "--classify", "y=confidential")  # fmt: skip
    return {"root": tmp_path}


def push(studio, root: Path, name: str, weight: float, evaluation: str | None) -> int:
    """Push ``name`` predicting sigmoid(weight * x), with its test; returns the version."""
    root.mkdir(exist_ok=True)
    (root / "module.toml").write_text(
        f'[module]\nname = "{name}"\ndescription = "gated"\n' + (evaluation or "")
    )
    (root / "tasks.py").write_text(TASKS.format(weight=float(weight)))
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_tasks.py").write_text(MODULE_TEST)
    return int(studio.ok("module", "push", root)["version"])


def run(studio, name: str, version: int) -> str:
    result = studio.ok("run", f"{name}/predict@{version}")
    assert result["state"] == "succeeded", result
    return str(result["id"])


def latest(studio, name: str) -> int:
    [found] = [
        t["version"] for t in studio.ok("module", "show", name)["tags"] if t["name"] == "latest"
    ]
    return int(found)


def test_promote_passes_only_a_non_inferior_version_and_an_approver_overrides(studio, gm):
    root, name = gm["root"] / "scorer", "gm/scorer"
    gate = EVALUATION.format(dataset="gm/holdout")
    v1 = push(studio, root, name, 2.0, gate)
    first = studio.ok("module", "promote", name, str(v1))  # nothing promoted yet to compare with
    assert (
        first["moved"] and first["gate"]["passed"] and "nothing to compare" in first["gate"]["note"]
    )

    v2 = push(studio, root, name, 2.05, gate)
    no_runs = studio.fails("module", "promote", name, str(v2))
    assert "no succeeded run of predict" in no_runs.stderr
    assert f"run: mlstudio run {name}/predict@1 --domain experimentation" in no_runs.stderr
    run(studio, name, v1)
    run(studio, name, v2)
    passed = studio.ok("module", "promote", name, str(v2))  # compares the two runs, then moves
    assert passed["moved"] and passed["to"] == v2 and passed["gate"]["passed"]
    [evaluation] = studio.ok("eval", "list")
    assert passed["gate"]["evaluation"] == evaluation["id"]
    low, _high = passed["gate"]["improvement_ci"]
    assert low > -0.01  # non-inferior within the margin on log loss

    v3 = push(studio, root, name, 0.2, gate)  # far flatter predictions: a worse log loss
    run(studio, name, v3)
    worse = studio.fails("module", "promote", name, str(v3))
    assert f"tag latest of module {name} is gated: {name}@3 is not non-inferior" in worse.stderr
    assert "--override-reason" in worse.stderr and latest(studio, name) == v2

    empty = studio.fails("module", "promote", name, str(v3), "--override-reason", " ")
    assert "needs a reason" in empty.stderr
    own = studio.fails("module", "promote", name, str(v3), "--override-reason", "trust me")
    assert "someone other than its author" in own.stderr  # alice pushed it
    stranger = studio.fails("module", "promote", name, str(v3), "--override-reason", "x",
                            user="carol")  # fmt: skip
    assert "carol may not" in stranger.stderr
    assert (
        latest(studio, name) == v2 and studio.ok("audit", "--action", "module.gate.override") == []
    )

    over = studio.ok("module", "promote", name, str(v3), "--override-reason", "incident 7",
                     user="bob")  # fmt: skip
    assert over["moved"] and over["gate"] == {
        "passed": False, "overridden_by": "bob", "reason": "incident 7"
    }  # fmt: skip
    [event] = studio.ok("audit", "--action", "module.gate.override")
    assert event["actor"] == "bob" and event["resource"] == f"{name}:latest"
    assert event["details"]["reason"] == "incident 7" and event["details"]["version"] == v3
    assert "not non-inferior" in event["details"]["refused"]
    denied = [
        e for e in studio.ok("audit", "--action", "module.promote") if e["decision"] == "deny"
    ]
    assert len(denied) >= 4  # every refusal above was audited

    # `module tag` cannot sidestep the gate: moving latest back reads the same evaluation
    back = studio.ok("module", "tag", name, "latest", str(v2))
    assert back["moved"] and back["gate"]["passed"] and len(studio.ok("eval", "list")) == 2


def test_a_module_without_an_evaluation_promotes_as_before(studio, gm):
    root, name = gm["root"] / "plain", "gm/plain"
    v1 = push(studio, root, name, 2.0, None)
    v2 = push(studio, root, name, 0.2, None)
    for version in (v1, v2):
        moved = studio.ok("module", "promote", name, str(version))
        assert moved["moved"] and "gate" not in moved
    assert latest(studio, name) == v2 and studio.ok("eval", "list") == []


def test_a_gate_with_no_way_to_evaluate_refuses_with_the_fix(studio, gm):
    root, name = gm["root"] / "lost", "gm/lost"
    gate = EVALUATION.format(dataset="gm/missing")
    v1 = push(studio, root, name, 2.0, gate)
    studio.ok("module", "promote", name, str(v1))
    v2 = push(studio, root, name, 2.1, gate)
    failed = studio.fails("module", "promote", name, str(v2))
    assert "gm/missing, which does not exist" in failed.stderr
    assert "mlstudio data import FILE --name gm/missing" in failed.stderr
    # the gate of the promoted version applies: dropping the table does not skip it
    v3 = push(studio, root, name, 2.1, None)
    assert "gm/missing" in studio.fails("module", "promote", name, str(v3)).stderr
    assert latest(studio, name) == v1


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ('[evaluation]\nworkflow = "predict"\nmetric = "auc"\n', "lacks dataset"),
        (EVALUATION.format(dataset="gm/holdout").replace("log_loss", "auk"), "auk"),
        (EVALUATION.format(dataset="gm/holdout@1"), "without a version"),
        (EVALUATION.format(dataset="gm/holdout") + "bogus = 1\n", "unknown key(s)"),
        (EVALUATION.format(dataset="gm/holdout").replace("0.01", '"small"'), "margin"),
    ],
)
def test_a_bad_evaluation_table_is_refused_at_push(studio, gm, table, needle):
    root = gm["root"] / "bad"
    root.mkdir()
    (root / "module.toml").write_text('[module]\nname = "gm/bad"\n' + table)
    (root / "tasks.py").write_text(TASKS.format(weight=1.0))
    failed = studio.fails("module", "push", root)
    assert needle in failed.stderr and "[evaluation]" in failed.stderr
    assert [m["name"] for m in studio.ok("module", "list")] == []


def test_the_api_promote_route_enforces_the_gate(studio, gm):
    from fastapi.testclient import TestClient

    root, name = gm["root"] / "scorer", "gm/scorer"
    gate = EVALUATION.format(dataset="gm/holdout")
    v1 = push(studio, root, name, 2.0, gate)
    studio.ok("module", "promote", name, str(v1))
    v2 = push(studio, root, name, 0.2, gate)
    run(studio, name, v1)
    run(studio, name, v2)
    with studio.opened() as platform:
        from mlstudio.api.app import create_app

        _record, token = platform.tokens.create("alice", "bob")
        with TestClient(create_app(platform)) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            path = "/api/v1/modules/gm/scorer/promote"
            # the gate's comparison reads the evaluation set as bob: he needs the domain
            denied = client.post(path, json={"version": v2})
            assert denied.status_code == 403, denied.text
            assert "bob may not read datasets" in denied.json()["error"]["message"]
            studio.ok("user", "grant", "bob", "runner", "--domain", "experimentation")
            refused = client.post(path, json={"version": v2})
            assert refused.status_code == 403, refused.text
            assert "not non-inferior" in refused.json()["error"]["message"]
            over = client.post(path, json={"version": v2, "override_reason": "ship it"})
            assert over.status_code == 200, over.text
            assert over.json()["gate"]["overridden_by"] == "bob"
    assert latest(studio, name) == v2
