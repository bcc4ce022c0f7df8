"""The real, unmodified MLflow client against a real ``mlstudio server`` (``/mlflow``): what it
logs shows up in mlstudio's own tracking like native runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mlflow")

CLIENT = textwrap.dedent(
    """
    import json, math, sys
    import mlflow
    mlflow.set_experiment("mlflow-exp")
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("kind", "gbm")
        mlflow.log_params({"depth": 3, "lr": 0.1})
        for step in range(3):
            mlflow.log_metric("train/loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"auc": 0.9, "odd": float("nan")})
        mlflow.set_tag("team", "a")
        open("notes.txt", "w").write("hello")
        mlflow.log_artifact("notes.txt", artifact_path="docs")
        first = run.info.run_id
    with mlflow.start_run(run_name="second") as run:
        mlflow.log_param("kind", "lr")
        mlflow.log_metric("auc", 0.7)
        second = run.info.run_id
    found = mlflow.search_runs(
        experiment_names=["mlflow-exp"], filter_string="metrics.auc > 0.8",
        order_by=["metrics.auc DESC"], output_format="list",
    )
    history = mlflow.MlflowClient().get_metric_history(first, "train/loss")
    import pathlib
    fetched = mlflow.artifacts.download_artifacts(run_id=first, artifact_path="docs/notes.txt")
    listed = [f.path for f in mlflow.MlflowClient().list_artifacts(first, "docs")]
    refused = ""
    try:
        with mlflow.start_run(run_id=first):
            mlflow.log_param("kind", "other")
    except Exception as exc:
        refused = str(exc)
    print(json.dumps({
        "first": first, "second": second, "found": [r.info.run_id for r in found],
        "history": [m.value for m in history], "refused": refused,
        "fetched": pathlib.Path(fetched).read_text(), "listed": listed,
    }))
    """
)


def test_the_mlflow_client_logs_into_mlstudio(server_factory, tmp_path):
    import json

    server = server_factory("sqlite", "--no-workers")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"{server.url}/mlflow",
        "MLFLOW_TRACKING_TOKEN": server.token("alice"),
    }
    out = subprocess.run(
        [sys.executable, "-c", CLIENT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["found"] == [got["first"]]
    assert got["history"] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert "INVALID_PARAMETER_VALUE" in got["refused"]
    assert got["fetched"] == "hello" and got["listed"] == ["docs/notes.txt"]

    with server.http(server.token("alice")) as http:
        compared = http.post(
            "/api/v1/tracking/compare", json={"runs": [got["first"], got["second"]]}
        ).json()
        auc = next(m for m in compared["metrics"] if m["key"] == "auc")
        assert auc["values"] == [0.9, 0.7] and auc["best"] == 0
        odd = next(m for m in compared["metrics"] if m["key"] == "odd")
        assert odd["values"][0] == "NaN"
        missing = http.get("/mlflow/api/2.0/mlflow/no/such/endpoint")
        assert missing.status_code == 404
        assert missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
        gone = http.get("/mlflow/api/2.0/mlflow/runs/get", params={"run_id": "f" * 32})
        assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        escape = http.put(
            f"/mlflow/api/2.0/mlflow-artifacts/artifacts/1/{got['first']}/artifacts/../x",
            content=b"x",
        )
        assert escape.status_code in (400, 404)
    with server.http("bad-token") as http:
        refused = http.get("/mlflow/api/2.0/mlflow/experiments/search")
        assert refused.status_code == 401
        assert refused.json()["error_code"] == "UNAUTHENTICATED"  # MLflow's shape, not ours


SKLEARN = textwrap.dedent(
    """
    import json, mlflow, mlflow.sklearn, mlflow.pyfunc
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    mlflow.set_experiment("skl")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
        rid = run.info.run_id
    a = mlflow.sklearn.load_model(f"models:/{info.model_id}").predict(X).tolist()
    b = mlflow.pyfunc.load_model(f"runs:/{rid}/model").predict(X).tolist()
    print(json.dumps({"a": a, "b": b, "model_id": info.model_id}))
    """
)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sklearn_log_model_and_load_it_back(server_factory, tmp_path, backend):
    import json

    pytest.importorskip("sklearn")
    server = server_factory(backend, "--no-workers")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"{server.url}/mlflow",
        "MLFLOW_TRACKING_TOKEN": server.token("alice"),
    }
    out = subprocess.run(
        [sys.executable, "-c", SKLEARN],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["a"] == [0, 0, 1, 1] and got["b"] == [0, 0, 1, 1]
    assert got["model_id"].startswith("m-")
