"""Conformance: the real, unmodified MLflow client against a real ``mlstudio server`` process under
/mlflow: what it logs lands in the one tracking store (seen by `mlstudio runs search`)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("mlflow")


@pytest.fixture(params=["sqlite", "postgres"])
def tracked(request, server_factory, monkeypatch):
    server = server_factory(request.param)
    token = server.token()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"{server.url}/mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    import mlflow

    mlflow.set_tracking_uri(f"{server.url}/mlflow")
    yield server, token
    if mlflow.active_run():
        mlflow.end_run()


def test_the_mlflow_client_logs_searches_and_reads_back(tracked, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    server, token = tracked
    exp = mlflow.set_experiment("fraud")
    assert exp.name == "fraud"
    ids = {}
    for kind, auc in (("gbm", 0.91), ("linear", 0.82), ("tree", 0.7)):
        with mlflow.start_run(run_name=f"r-{kind}") as run:
            mlflow.log_param("kind", kind)
            mlflow.log_params({"lr": 0.1, "depth": 3})
            for step in range(5):
                mlflow.log_metric("train/loss", 1.0 / (step + 1), step=step)
            mlflow.log_metrics({"auc": auc, "odd": math.nan})
            mlflow.set_tag("team", "risk")
            ids[kind] = run.info.run_id
    (tmp_path / "notes.txt").write_text("hello")
    with mlflow.start_run(run_id=ids["gbm"]):
        mlflow.log_artifact(str(tmp_path / "notes.txt"), artifact_path="docs")

    client = MlflowClient()
    got = client.get_run(ids["gbm"])
    assert got.data.params == {"kind": "gbm", "lr": "0.1", "depth": "3"}
    assert got.data.tags["team"] == "risk" and got.info.status == "FINISHED"
    assert got.data.metrics["auc"] == 0.91 and math.isnan(got.data.metrics["odd"])
    history = client.get_metric_history(ids["gbm"], "train/loss")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]

    found = mlflow.search_runs(
        experiment_ids=[exp.experiment_id],
        filter_string="metrics.auc > 0.8 and params.kind != 'tree'",
        order_by=["metrics.auc DESC"],
        output_format="list",
    )
    assert [r.data.params["kind"] for r in found] == ["gbm", "linear"]

    listed = client.list_artifacts(ids["gbm"], "docs")
    assert [f.path for f in listed] == ["docs/notes.txt"]
    local = client.download_artifacts(ids["gbm"], "docs/notes.txt", str(tmp_path / "down"))
    assert Path(local).read_text() == "hello"

    # one store: the native search sees what the MLflow client logged
    native = server.cli(
        "runs",
        "search",
        "--filter",
        "params.kind = 'gbm'",
        "--experiment",
        "fraud",
        "--json",
        token=token,
    )
    assert native.code == 0, native.stderr
    assert [r["id"] for r in native.json["runs"]] == [ids["gbm"]]


def test_mlflow_refusals_have_the_mlflow_shape(tracked):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    server, token = tracked
    client = MlflowClient()
    with pytest.raises(MlflowException) as missing:
        client.get_run("nope")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    mlflow.set_experiment("dup")
    with pytest.raises(MlflowException) as dup:
        client.create_experiment("dup")
    assert dup.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with mlflow.start_run() as run:
        mlflow.log_param("a", 1)
        with pytest.raises(MlflowException) as changed:
            mlflow.log_param("a", 2)
        assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run.info.run_id).data.params == {"a": "1"}
    with server.http(token) as http:
        unknown = http.get("/mlflow/api/2.0/mlflow/nothing/here")
        assert unknown.status_code == 404 and unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"
        bad = http.get(
            "/mlflow/api/2.0/mlflow-artifacts/artifacts/0/" + run.info.run_id + "/artifacts/../x"
        )
        assert bad.status_code in (400, 404)
        traversal = http.put(
            "/mlflow/api/2.0/mlflow-artifacts/artifacts/0/%2E%2E/artifacts/x", content=b"x"
        )
        assert traversal.status_code == 400
    with server.http("not-a-token") as http:
        refused = http.post("/mlflow/api/2.0/mlflow/experiments/create", json={"name": "x"})
        assert refused.status_code == 401
    names = [e.name for e in client.search_experiments()]
    assert "x" not in names


def test_search_experiments_filters_orders_and_pages_like_mlflow(tracked):
    from mlflow import MlflowClient
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    ids = {}
    for name, team in (("churn-a", "growth"), ("churn-b", "risk"), ("fraud-x", "risk")):
        ids[name] = client.create_experiment(name, tags={"team": team})
    client.delete_experiment(ids["churn-b"])
    like = client.search_experiments(filter_string="name LIKE 'churn%'")
    assert [e.name for e in like] == ["churn-a"]  # churn-b is deleted: ACTIVE_ONLY by default
    every = client.search_experiments(view_type=ViewType.ALL, filter_string="name LIKE 'churn%'")
    assert sorted(e.name for e in every) == ["churn-a", "churn-b"]
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert [e.name for e in deleted] == ["churn-b"]
    risky = client.search_experiments(filter_string="tags.team = 'risk'")
    assert [e.name for e in risky] == ["fraud-x"]
    ilike = client.search_experiments(filter_string="name ILIKE 'FRAUD%' AND tags.team != 'x'")
    assert [e.name for e in ilike] == ["fraud-x"]
    ordered = client.search_experiments(order_by=["name DESC"], filter_string="name != 'Default'")
    assert [e.name for e in ordered] == ["fraud-x", "churn-a"]
    first = client.search_experiments(max_results=1, order_by=["name ASC"])
    assert len(first) == 1 and first.token
    rest = client.search_experiments(max_results=5, order_by=["name ASC"], page_token=first.token)
    assert [e.name for e in first] + [e.name for e in rest] == ["Default", "churn-a", "fraud-x"]
    with pytest.raises(MlflowException) as bad:
        client.search_experiments(filter_string="colour = 'red'")
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"
