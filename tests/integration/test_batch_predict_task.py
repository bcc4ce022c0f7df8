"""``mlstudio.predict("models:/NAME@ALIAS", table)`` in a task: batch scoring with the serving
loader, governed like ``load_model`` (SQLite and Postgres)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mlstudio.testing.flows import task_of

TASKS = """
import pandas as pd

from mlstudio import Model, predict, task, workflow


class Times:
    def __init__(self, factor):
        self.factor = factor

    def predict(self, rows):
        return [self.factor * float(r[0]) for r in rows]


@task
def train(factor: float) -> Model:
    return Model(Times(factor), features=["x"])


@task
def blind(factor: float) -> Model:
    return Model(Times(factor))  # does not say which columns it reads


@task(classify={"*": "internal"})
def rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [float(i) for i in range(n)], "k": [f"k{i}" for i in range(n)]})


@task(classify={"*": "internal"})
def wrong(n: int) -> pd.DataFrame:
    return pd.DataFrame({"y": [1.0] * n})


@task
def score(df: pd.DataFrame, ref: str) -> pd.DataFrame:
    return predict(ref, df).to_pandas()


@workflow
def fit(factor: float = 2.0):
    return train(factor)


@workflow
def fit_blind():
    return blind(1.0)


@workflow
def scoring(ref: str = "models:/bp-times@champion", n: int = 3):
    return score(rows(n), ref)


@workflow
def scoring_wrong(ref: str = "models:/bp-times@champion"):
    return score(wrong(2), ref)
"""


@pytest.fixture
def model(studio, tmp_path: Path) -> None:
    root = tmp_path / "bp"
    root.mkdir()
    (root / "module.toml").write_text(
        '[module]\nname = "bp/models"\ndescription = "batch predict"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    studio.ok("namespace", "create", "bp")
    studio.ok("module", "push", root, "--no-tests")
    for factor in (2.0, 10.0):
        run = studio.ok("run", "bp/models/fit:latestAlpha", "-p", f"factor={factor}")
        studio.ok("model", "register", "bp-times", "--run", run["id"], "--namespace", "bp")
    studio.ok("model", "alias", "bp-times", "live", "1")


def scores(studio, run_id: str) -> list[tuple[float, int]]:
    """(prediction, model_version) of each row of the run's score output."""
    text = studio.cli("runs", "output", run_id, "--task", "score").stdout
    rows = list(csv.DictReader(text.splitlines()))
    assert list(rows[0]) == ["x", "k", "prediction", "model_version"]
    return [(float(r["prediction"]), int(r["model_version"])) for r in rows]


def failed_run(studio, *args: str) -> dict:
    result = studio.cli("run", *args, "--json")
    assert result.code == 1 and result.json["state"] == "failed", result.stderr
    return result.json


def test_a_task_scores_a_table_and_an_alias_move_recomputes_it(studio, model):
    ref = "ref=models:/bp-times@live"
    first = studio.ok("run", "bp/models/scoring:latestAlpha", "-p", ref)
    assert first["state"] == "succeeded", first
    assert scores(studio, first["id"]) == [(0.0, 1), (2.0, 1), (4.0, 1)]
    again = studio.ok("run", "bp/models/scoring:latestAlpha", "-p", ref)
    assert task_of(studio.ok("runs", "show", again["id"]), "score")["cache_hit"] is True
    studio.ok("model", "alias", "bp-times", "live", "2")  # the alias moved: score again
    moved = studio.ok("run", "bp/models/scoring:latestAlpha", "-p", ref)
    assert task_of(studio.ok("runs", "show", moved["id"]), "score")["cache_hit"] is False
    assert scores(studio, moved["id"]) == [(0.0, 2), (10.0, 2), (20.0, 2)]


def test_missing_columns_and_a_model_without_features_fail_in_one_line(studio, model):
    failed = failed_run(studio, "bp/models/scoring_wrong:latestAlpha", "-p", "ref=bp-times/1")
    error = task_of(studio.ok("runs", "show", failed["id"]), "score")["error"]
    assert "lacks column(s) x that bp-times/1 reads" in error
    blind = studio.ok("run", "bp/models/fit_blind:latestAlpha")
    studio.ok("model", "register", "bp-blind", "--run", blind["id"], "--namespace", "bp")
    refused = failed_run(studio, "bp/models/scoring:latestAlpha", "-p", "ref=bp-blind/1")
    error = task_of(studio.ok("runs", "show", refused["id"]), "score")["error"]
    assert "does not say which columns it reads" in error


def test_predict_refuses_what_is_not_a_table():
    from mlstudio import predict
    from mlstudio.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="predict scores a table, not list"):
        predict("models:/x@y", [1, 2])
