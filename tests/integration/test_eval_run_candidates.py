"""A workflow run's output as an ``eval compare`` candidate (``run:RUN[/TASK][#COLUMN]``), read
through the governed run-output path, on SQLite and Postgres; and its refusals."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TASKS = """
import math

import pandas as pd

from mlstudio import dataset, task, workflow


@task
def score(t: pd.DataFrame, weight: float) -> pd.DataFrame:
    p = [1 / (1 + math.exp(-weight * x)) for x in t["x"]]
    return pd.DataFrame({"item": range(len(p)), "prediction": p})


@task
def score_head(t: pd.DataFrame, weight: float) -> pd.DataFrame:
    return pd.DataFrame({"item": range(5), "prediction": [0.5] * 5})  # 5 of the items only


@task
def count(t: pd.DataFrame) -> int:
    return len(t)


@workflow
def predict(weight: float):
    return score(dataset("rk/holdout"), weight)


@workflow
def head(weight: float):
    return score_head(dataset("rk/holdout"), weight)


@workflow
def size():
    return count(dataset("rk/holdout"))
"""


@pytest.fixture
def rk(studio, tmp_path: Path) -> dict[str, Any]:
    studio.ok("namespace", "create", "rk")
    rng = np.random.default_rng(4)
    x = rng.normal(size=300)
    y = (rng.random(300) < 1 / (1 + np.exp(-2.0 * x))).astype(int)
    rows = [
        {"x": round(float(x[i]), 6), "rule": round(1 / (1 + math.exp(-0.3 * x[i])), 6),
         "y": int(y[i])}
        for i in range(300)
    ]  # fmt: skip
    path = tmp_path / "holdout.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    studio.ok("data", "import", path, "--name", "rk/holdout", "--classify", "x=internal",
              "--classify", "rule=internal", "--classify", "y=confidential")  # fmt: skip
    root = tmp_path / "rk-models"
    root.mkdir()
    (root / "module.toml").write_text(
        '[module]\nname = "rk/models"\ndescription = "eval"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    studio.ok("module", "push", root, "--no-tests")
    run = studio.ok("run", "rk/models/predict:latestAlpha", "-p", "weight=2.0")
    assert run["state"] == "succeeded", run
    return {"rows": rows, "run": run["id"]}


def test_a_runs_output_is_a_candidate_read_through_the_governed_path(studio, rk):
    report = studio.ok("eval", "compare", "column:rule", f"run:{rk['run']}", "--on",
                       "rk/holdout", "--label", "y", "--metric", "log_loss",
                       "--resamples", "300")  # fmt: skip
    [c] = report["comparisons"]
    cand = report["candidates"][1]
    assert cand["kind"] == "run" and cand["ref"] == f"run:{rk['run']}"
    y = np.array([r["y"] for r in rk["rows"]], dtype=float)
    p = 1 / (1 + np.exp(-2.0 * np.array([r["x"] for r in rk["rows"]])))
    q = np.array([r["rule"] for r in rk["rows"]])

    def loss(prob: np.ndarray) -> np.ndarray:
        return -(y * np.log(prob) + (1 - y) * np.log(1 - prob))

    assert c["delta"] == pytest.approx(float(np.mean(loss(p) - loss(q))), rel=1e-5)
    assert c["verdict"] == "better" and c["delta"] < 0
    # the same with the task and column named
    named = studio.ok("eval", "compare", "column:rule", f"run:{rk['run']}/score#prediction",
                      "--on", "rk/holdout", "--label", "y", "--metric", "log_loss",
                      "--resamples", "300")  # fmt: skip
    assert named["comparisons"][0]["delta"] == pytest.approx(c["delta"])
    assert named["candidates"][1]["name"].endswith("score")


def test_run_candidate_refusals(studio, rk):
    short = studio.ok("run", "rk/models/head:latestAlpha", "-p", "weight=1.0")
    scalar = studio.ok("run", "rk/models/size:latestAlpha")
    base = ["eval", "compare", "column:rule"]
    on = ["--on", "rk/holdout", "--label", "y", "--metric", "log_loss"]
    cases = [
        (f"run:{short['id']}", "has 5 rows but rk/holdout@1 has 300 items"),
        (f"run:{scalar['id']}", "not a table"),
        (f"run:{rk['run']}#nope", "no column 'nope'"),
        (f"run:{rk['run']}/nope", "no task 'nope'"),
        ("run:run_doesnotexist", "run_doesnotexist"),
        ("run:", "run:RUN_ID"),
    ]
    for ref, needle in cases:
        failed = studio.fails(*base, ref, *on)
        assert needle in failed.stderr, (ref, failed.stderr)
    assert studio.ok("eval", "list") == []
