"""What a task computes with a model it loaded (``load_model``) carries the model's
classification, which the model inherited from its training data: a model trained on pii
makes its predictions pii, in a table's every column and in a plain value (SQLite and
Postgres). Without it, scoring a harmless table with a pii-trained model would launder pii."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

TASKS = """
import pandas as pd

from mlstudio import Model, load_model, task, workflow


class Mean:
    def __init__(self, value):
        self.value = value

    def predict(self, rows):
        return [self.value for _ in rows]


@task(classify={"*": "internal+pii"})
def people(n: int) -> pd.DataFrame:
    return pd.DataFrame({"y": [float(i) for i in range(n)]})


@task
def train(df: pd.DataFrame) -> Model:
    return Model(Mean(float(df["y"].mean())))


@task(classify={"*": "internal"})
def requests(n: int) -> pd.DataFrame:
    return pd.DataFrame({"account": [f"a{i}" for i in range(n)]})


@task(persist="mo/scored")
def score(df: pd.DataFrame, ref: str) -> pd.DataFrame:
    model = load_model(ref)
    return df.assign(prediction=model.predict(df.to_dict("records")))


@task
def average(df: pd.DataFrame, ref: str) -> float:
    return float(load_model(ref).predict([{}])[0])


@task(persist="mo/plain")
def no_model(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(length=df["account"].str.len())


@workflow
def fit(n: int = 4):
    return train(people(n))


@workflow
def scoring(ref: str = "models:/mo-mean@champion"):
    table = requests(3)
    return {"scored": score(table, ref), "mean": average(table, ref), "plain": no_model(table)}
"""


@pytest.fixture
def model(studio, tmp_path: Path) -> None:
    root = tmp_path / "mo"
    root.mkdir()
    (root / "module.toml").write_text(
        '[module]\nname = "mo/models"\ndescription = "model outputs"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    studio.ok("namespace", "create", "mo")
    studio.ok("user", "add", "carol")
    studio.ok("namespace", "grant", "mo", "carol", "maintainer")
    studio.ok("module", "push", root)
    studio.ok("module", "promote", "mo/models", "1")
    run = studio.ok("run", "mo/models/fit", "--domain", "production")
    assert run["state"] == "succeeded", run
    version = studio.ok("model", "register", "mo-mean", "--run", run["id"], "--namespace", "mo")
    assert version["classification"] == "internal+pii"
    studio.ok("model", "approve", "mo-mean", "1", "--reason", "ok", user="carol")
    studio.ok("model", "alias", "mo-mean", "champion", "1")


def column_labels(studio, ref: str) -> dict[str, Any]:
    return {c["name"]: c["labels"] for c in studio.ok("data", "show", ref)["columns"]}


def test_a_tasks_output_inherits_the_classification_of_the_models_it_loaded(studio, model):
    run = studio.ok("run", "mo/models/scoring", "--domain", "production")
    assert run["state"] == "succeeded", run
    # the input column was internal; what came out of a task that used the pii model is pii
    assert column_labels(studio, "mo/scored") == {"account": ["pii"], "prediction": ["pii"]}
    # the same table without a model keeps the input's classification
    assert column_labels(studio, "mo/plain") == {"account": [], "length": []}
    # a plain value computed with the model is pii too: a domain without pii may not read it
    output = ["runs", "output", run["id"], "--task", "average"]
    refused = studio.fails(*output, "--domain", "experimentation", code=4)
    assert "label pii is not readable there" in refused.stderr
    assert studio.ok(*output, "--domain", "production")["value"] == 1.5
