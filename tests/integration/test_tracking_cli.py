"""Experiment tracking through the CLI on SQLite and Postgres: tasks log with current(), every
task run is a tracked run, and experiments / runs compare / runs search / runs plot read them."""

from __future__ import annotations

import json

import pytest

from mlstudio.testing.flows import write_flow

FLOW = """
import math

from mlstudio import current, task, workflow

@task
def train(kind: str, lr: float) -> float:
    ctx = current()
    ctx.log_params({"kind": kind, "lr": lr})
    ctx.set_tag("team", "fraud")
    for step in range(50):
        ctx.log_metric("train/loss", 1.0 / (step + 1) / lr, step=step)
    auc = {"gbm": 0.91, "linear": 0.82, "tree": 0.7}[kind]
    ctx.log_metrics({"auc": auc, "weird": math.nan})
    return auc

@task
def twice() -> int:
    current().log_param("a", 1)
    current().log_param("a", 2)
    return 0

@workflow
def sweep(kind: str = "gbm", lr: float = 0.1) -> float:
    return train(kind, lr)

@workflow
def clash() -> int:
    return twice()
"""


@pytest.fixture
def swept(studio, tmp_path):
    flow = write_flow(tmp_path, FLOW)
    runs = {}
    for kind, lr in (("gbm", "0.1"), ("linear", "0.2"), ("tree", "0.1")):
        out = studio.ok(
            "run", f"{flow}:sweep", "-p", f"kind={kind}", "-p", f"lr={lr}", "--experiment", "fraud"
        )
        assert out["state"] == "succeeded", out
        runs[kind] = out["id"]
    return flow, runs


def test_experiments_list_and_show(studio, swept):
    listed = studio.ok("experiments", "list")
    fraud = [e for e in listed if e["name"] == "fraud"]
    assert len(fraud) == 1 and fraud[0]["runs"] == 3
    shown = studio.ok("experiments", "show", "fraud")
    assert shown["runs"] == 3 and len(shown["recent"]) == 3
    assert {r["params"]["kind"] for r in shown["recent"]} == {"gbm", "linear", "tree"}
    assert studio.ok("experiments", "show", fraud[0]["id"])["name"] == "fraud"
    human = studio.cli("experiments", "list")
    assert human.code == 0 and "fraud" in human.stdout
    bad = studio.fails("experiments", "show", "frau", code=None)
    assert "no experiment 'frau'" in bad.stderr and "fraud" in bad.stderr


def test_search_filters_orders_and_refuses_bad_filters(studio, swept):
    found = studio.ok(
        "runs",
        "search",
        "--filter",
        "metrics.auc > 0.8 and params.kind != 'tree'",
        "--order-by",
        "metrics.auc DESC",
        "--experiment",
        "fraud",
    )
    kinds = [r["params"]["kind"] for r in found["runs"]]
    assert kinds == ["gbm", "linear"]
    run = found["runs"][0]
    assert run["tags"]["team"] == "fraud" and run["metrics"]["weird"] == "NaN"
    assert run["metrics"]["train/loss"] == pytest.approx(1.0 / 50 / 0.1)
    assert run["workflow_run_id"] == swept[1]["gbm"]
    like = studio.ok("runs", "search", "--filter", "params.kind LIKE 'g%'")
    assert [r["params"]["kind"] for r in like["runs"]] == ["gbm"]
    within = studio.ok("runs", "search", "--filter", "params.kind IN ('tree', 'linear')")
    assert sorted(r["params"]["kind"] for r in within["runs"]) == ["linear", "tree"]
    for bad in ("metrics.auc >> 1", "bogus.x = 1", "metrics.auc > 'x' and"):
        failed = studio.fails("runs", "search", "--filter", bad)
        assert failed.code != 0
    failed = studio.fails("runs", "search", "--experiment", "nope")
    assert "no experiment 'nope'" in failed.stderr


def test_compare_marks_the_best_and_accepts_workflow_runs(studio, swept):
    _, runs = swept
    data = studio.ok("runs", "compare", runs["gbm"], runs["linear"], runs["tree"])
    assert len(data["runs"]) == 3
    auc = next(m for m in data["metrics"] if m["key"] == "auc")
    assert auc["values"] == [0.91, 0.82, 0.7] and auc["best"] == 0 and auc["direction"] == "max"
    loss = next(m for m in data["metrics"] if m["key"] == "train/loss")
    assert loss["direction"] == "min" and loss["best"] == 1  # lr 0.2 → the lowest loss
    only = studio.ok("runs", "compare", runs["gbm"], runs["tree"], "--only-differences")
    assert "lr" not in {p["key"] for p in only["params"]}  # both 0.1
    assert "kind" in {p["key"] for p in only["params"]}
    tracked = data["runs"][0]["id"]
    assert studio.ok("runs", "compare", tracked, runs["linear"])["runs"][0]["id"] == tracked
    human = studio.cli("runs", "compare", runs["gbm"], runs["linear"])
    assert human.code == 0 and "0.91 *" in human.stdout
    assert "at least two" in studio.fails("runs", "compare", runs["gbm"]).stderr
    assert "no tracked run" in studio.fails("runs", "compare", runs["gbm"], "nope").stderr


def test_plot_writes_a_png(studio, swept, tmp_path):
    _, runs = swept
    target = tmp_path / "loss.png"
    data = studio.ok("runs", "plot", runs["gbm"], "--metric", "train/loss", "--to", str(target))
    assert data["points"] == 50 and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "logged no metric" in studio.fails("runs", "plot", runs["gbm"], "--metric", "x").stderr
    assert (
        ".png"
        in studio.fails(
            "runs", "plot", runs["gbm"], "--metric", "auc", "--to", str(tmp_path / "a.txt")
        ).stderr
    )


def test_a_param_logged_twice_with_another_value_fails_the_task(studio, swept):
    flow, _ = swept
    result = studio.cli("run", f"{flow}:clash", "--json")
    assert result.code != 0
    out = json.loads(result.stdout)
    assert "param" in json.dumps(out)
