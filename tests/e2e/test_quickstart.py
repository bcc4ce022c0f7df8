"""``mlstudio quickstart`` as a user runs it: the workflow, then its champion registered,
approved by a second person, aliased and served by a real ``mlstudio serve`` process."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from mlstudio.testing.flows import mlstudio_executable

pytest.importorskip("uvicorn")  # the server extra is part of the README's first command


@pytest.fixture
def run(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLSTUDIO_") and not k.startswith("PYTEST_")
    }
    env.update(MLSTUDIO_HOME=str(tmp_path / "home"), MLSTUDIO_USER="alice")

    def _run(*args: str, expect: int = 0, user: str = "alice") -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [mlstudio_executable(), *map(str, args)],
            cwd=tmp_path,
            env={**env, "MLSTUDIO_USER": user},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == expect, proc.stderr
        return proc

    return _run


def test_quickstart_crowns_and_serves_its_champion_once(run):
    first = json.loads(run("quickstart", "--customers", "1000", "--json").stdout)
    champion, served = first["champion"], first["served"]
    best = first["best"]["kind"]
    assert champion["model"] == "churn-propensity" and champion["kind"] == best
    assert (champion["version"], champion["registered"], champion["alias_moved"]) == (1, True, True)
    assert champion["champion"] == 1
    # the registry agrees: approved by someone other than the author, champion on it
    shown = json.loads(run("model", "show", "churn-propensity@champion", "--json").stdout)
    selected = shown["selected"]
    assert selected["version"] == 1 and selected["aliases"] == ["champion"]
    assert selected["approval"]["state"] == "approved"
    assert selected["approval"]["by"] == "reviewer" != selected["created_by"] == "alice"
    assert selected["lineage"]["run_id"] == first["runs"][0]["run"]
    assert selected["node"] == champion["task"]
    # trained on the point-in-time join of the churn/customer_usage feature view, which lists
    # the model among its consumers
    (used,) = selected["lineage"]["features"]
    assert used["view"] == "churn/customer_usage@1" and "seat_utilization" in used["columns"]
    assert sorted(used["sources"]) == ["churn/customers@1", "churn/usage@1"]
    view = json.loads(run("features", "show", "churn/customer_usage", "--json").stdout)
    assert [c["consumer"] for c in view["consumers"]] == ["model:churn-propensity/1"]
    assert view["classification"]["seat_utilization"] == "internal"
    # a real HTTP answer from the served version, and a sensible one
    assert served["version"] == 1 and served["request_id"]
    scores = served["scores"]
    assert set(scores) == {"healthy account", "at-risk account"}
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    assert scores["at-risk account"] > scores["healthy account"]
    # the token made for the request is revoked, and the process is gone
    tokens = json.loads(run("token", "list", "--json").stdout)
    assert [t["state"] for t in tokens if "quickstart" in t["description"]] == ["revoked"]

    again = json.loads(run("quickstart", "--customers", "1000", "--json").stdout)
    # the cached re-run trained nothing new: same version, not registered twice, no alias move
    assert again["champion"]["version"] == 1
    assert (again["champion"]["registered"], again["champion"]["alias_moved"]) == (False, False)
    assert again["served"]["version"] == 1
    versions = json.loads(run("model", "show", "churn-propensity", "--json").stdout)["versions"]
    assert [v["version"] for v in versions] == [1]
    approvals = json.loads(run("audit", "--action", "model.approve", "--json").stdout)
    assert [(a["actor"], a["resource"]) for a in approvals] == [
        ("reviewer", "model:churn-propensity/1")
    ]
    # someone promotes the other candidate: a re-run that trained nothing new leaves it there,
    # and the served answer comes from it
    other = "fit[1]" if champion["task"] == "fit[0]" else "fit[0]"
    first_run = first["runs"][0]["run"]
    run("model", "register", "churn-propensity", "--run", first_run, "--task", other)
    run("model", "approve", "churn-propensity", "2", "--reason", "try it", user="reviewer")
    run("model", "alias", "churn-propensity", "champion", "2")
    third = json.loads(run("quickstart", "--customers", "1000", "--json").stdout)
    assert (third["champion"]["alias_moved"], third["champion"]["champion"]) == (False, 2)
    assert third["served"]["version"] == 2


def test_the_monitoring_walkthrough_on_the_quickstart_model(run):
    """docs/monitoring.md's walkthrough, checked: the shift of March 2 opens one alert, whose
    retrain registers version 2 as challenger (champion stays), and ``new_trend`` on it makes
    the new level normal, so the alert resolves and nothing else opens."""

    def ok(*args: str) -> object:
        return json.loads(run(*args, "--json").stdout)

    run("quickstart", "--customers", "1000", "--no-serve")
    run("run", "churn/propensity/traffic", "--domain", "production", "-p", "days=59")
    scored = ok("data", "show", "churn/scored-requests")
    assert scored["rows"] == 59 * 200
    # scored in the workflow with the champion; the scores inherit the model's pii
    prediction = next(c for c in scored["columns"] if c["name"] == "prediction")
    assert "pii" in prediction["labels"]
    run(
        "monitor", "add", "churn/propensity-live", "--source", "churn/scored-requests",
        "--time-column", "at", "--metric", "churn_score=mean:prediction",
        "--on-alert-run", "churn/propensity/retrain", "--run-param", "seed=8",
        "--cooldown", "7d", "--max-per", "2/30d",
    )  # fmt: skip
    first = ok("monitor", "run", "churn/propensity-live", "--now", "2026-03-05T00:00:00Z")
    (alert,) = ok("monitor", "alerts", "churn/propensity-live")
    assert (alert["check"], alert["state"]) == ("anomaly:churn_score", "open")
    assert alert["first_window"].startswith("2026-03-02")
    assert first["opened"] == [alert["id"]]
    (retrain,) = first["retrain"]
    assert (retrain["alert"], retrain["workflow"]) == (alert["id"], "churn/propensity/retrain")
    shown = ok("runs", "show", retrain["run"])
    assert (shown["trigger"], shown["state"]) == ("monitor", "queued")
    assert shown["triggered_by"]["alert"] == alert["id"]
    # what the server's run driver does with it (the docs run it through a server)
    assert ok("runs", "resume", retrain["run"])["state"] == "succeeded"
    model = ok("model", "show", "churn-propensity")
    assert model["model"]["aliases"] == {"champion": 1, "challenger": 2}
    assert (model["selected"]["version"], model["selected"]["node"]) == (2, "challenger")
    assert model["selected"]["run_id"] == retrain["run"]

    run("monitor", "feedback", alert["id"], "new_trend", "--comment", "new pricing")
    run("run", "churn/propensity/traffic", "--domain", "production")
    assert ok("data", "show", "churn/scored-requests")["rows"] == 70 * 200
    later = ok("monitor", "run", "churn/propensity-live", "--now", "2026-03-16T00:00:00Z")
    assert later["opened"] == [] and later["resolved"] == [alert["id"]]
    assert [a["state"] for a in ok("monitor", "alerts", "churn/propensity-live")] == ["resolved"]
