"""The MLflow model-registry API against a real ``mlstudio server`` process, driven by the real,
unmodified MLflow client (``MlflowClient``): what it registers is mlstudio's own registry."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from typing import Any

import pytest

pytest.importorskip("mlflow")

CLIENT_SCRIPT = r"""
import json, sys
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

client = MlflowClient()
step = sys.argv[1]
out = {}
if step == "register":
    client.create_registered_model("mlf-model", description="from mlflow")
    v1 = client.create_model_version("mlf-model", source="s3://bucket/m1", run_id=None)
    v2 = client.create_model_version("mlf-model", source="s3://bucket/m2")
    out["versions"] = [v1.version, v2.version]
    out["statuses"] = [v1.status, v2.status]
    client.set_registered_model_alias("mlf-model", "challenger", "2")
    by_alias = client.get_model_version_by_alias("mlf-model", "challenger")
    out["alias_version"] = by_alias.version
    out["alias_aliases"] = list(by_alias.aliases)
    found = client.search_model_versions("name='mlf-model'")
    out["searched"] = sorted(v.version for v in found)
    out["download"] = client.get_model_version_download_uri("mlf-model", "1")
    out["model"] = client.get_registered_model("mlf-model").name
    try:
        client.set_registered_model_alias("mlf-model", "champion", "1")
        out["champion"] = "set"
    except MlflowException as exc:
        out["champion"] = exc.error_code
    try:
        client.get_model_version("mlf-model", "9")
    except MlflowException as exc:
        out["missing"] = exc.error_code
elif step == "champion":
    client.set_registered_model_alias("mlf-model", "champion", "1")
    out["champion"] = client.get_model_version_by_alias("mlf-model", "champion").version
elif step == "denied":
    try:
        client.search_registered_models()
        out["denied"] = None
    except MlflowException as exc:
        out["denied"] = str(exc)
print(json.dumps(out))
"""


def mlflow_client(server: Any, token: str, step: str) -> dict[str, Any]:
    import json

    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"{server.url}/mlflow",
        "MLFLOW_TRACKING_TOKEN": token,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT, step],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_mlflow_client_registers_into_the_one_registry(server_factory):
    server = server_factory("sqlite", "--no-workers")
    server.add_user("bob", "steward")
    alice = server.token("alice")
    out = mlflow_client(server, alice, "register")
    assert out["versions"] == ["1", "2"] and out["statuses"] == ["READY", "READY"]
    assert out["alias_version"] == "2" and out["alias_aliases"] == ["challenger"]
    assert out["searched"] == ["1", "2"]
    assert out["download"] == "s3://bucket/m1"
    assert out["model"] == "mlf-model"
    assert out["champion"] == "PERMISSION_DENIED"  # protected: version 1 is not approved
    assert out["missing"] == "RESOURCE_DOES_NOT_EXIST"
    # what MLflow registered is mlstudio's registry: approvals and aliases are shared
    registry = server.platform().registry
    shown = registry.show("alice", "mlf-model@challenger")
    assert shown["selected"]["version"] == 2 and shown["selected"]["source"] == "s3://bucket/m2"
    assert shown["model"]["owner"] == "alice"
    with server.platform().store.read() as uow:
        refusals = [
            e for e in uow.audit.list(action="model.alias", limit=100) if e.decision == "deny"
        ]
    assert [e.resource for e in refusals] == ["model:mlf-model@champion"]
    registry.decide("bob", "mlf-model", 1, "approved", "reviewed")
    out = mlflow_client(server, alice, "champion")
    assert out["champion"] == "1"
    assert registry.show("alice", "mlf-model@champion")["selected"]["approval"]["by"] == "bob"


def test_a_bad_token_is_a_401_and_unknown_endpoints_are_endpoint_not_found(server_factory):
    server = server_factory("sqlite", "--no-workers")
    out = mlflow_client(server, "not-a-token", "denied")
    # the client reads MLflow's error shape: the code it names is UNAUTHENTICATED
    assert out["denied"] is not None and out["denied"].startswith("UNAUTHENTICATED")
    with server.http(server.token()) as http:
        response = http.get("/mlflow/api/2.0/mlflow/no-such/thing")
        assert response.status_code == 404
        assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"
        response = http.get("/mlflow/api/2.0/mlflow/registered-models/get", params={"name": "x"})
        assert response.status_code == 404
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    with server.http("bad") as http:
        assert http.get("/mlflow/api/2.0/mlflow/registered-models/search").status_code == 401


@pytest.mark.skipif(
    importlib.util.find_spec("mlstudio.api.mlflow.tracking") is None,
    reason="needs the MLflow tracking/artifact/logged-model endpoints (mlstudio.api.mlflow.tracking)",
)
def test_sklearn_log_model_register_and_load_by_alias(server_factory):
    pytest.importorskip("sklearn")
    server = server_factory("sqlite", "--no-workers")
    server.add_user("bob")
    token = server.token("alice")
    script = r"""
import mlflow, numpy as np
from sklearn.linear_model import LinearRegression
mlflow.set_experiment("reg-e2e")
with mlflow.start_run():
    model = LinearRegression().fit(np.array([[1.0], [2.0]]), np.array([2.0, 4.0]))
    info = mlflow.sklearn.log_model(model, name="m")
mv = mlflow.register_model(info.model_uri, "sk-model")
mlflow.MlflowClient().set_registered_model_alias("sk-model", "challenger", mv.version)
loaded = mlflow.pyfunc.load_model("models:/sk-model@challenger")
print(float(loaded.predict(np.array([[3.0]]))[0]))
"""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"{server.url}/mlflow",
        "MLFLOW_TRACKING_TOKEN": token,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert abs(float(done.stdout.strip().splitlines()[-1]) - 6.0) < 1e-6
    shown = server.platform().registry.show("alice", "sk-model@challenger")
    assert shown["selected"]["version"] == 1


def test_search_logged_models_honours_its_filter(server_factory):
    """``mlflow.search_logged_models(filter_string=...)`` (name, params, tags, LIKE, AND); a bad
    filter is MLflow's INVALID_PARAMETER_VALUE, not every model."""
    pytest.importorskip("sklearn")
    server = server_factory("sqlite", "--no-workers")
    token = server.token("alice")
    script = r"""
import json, mlflow, numpy as np
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression
exp = mlflow.set_experiment("lm-search").experiment_id
model = LinearRegression().fit(np.array([[1.0], [2.0]]), np.array([2.0, 4.0]))
with mlflow.start_run():
    mlflow.sklearn.log_model(model, name="small", params={"alpha": "0.1"}, tags={"team": "a"})
    mlflow.sklearn.log_model(model, name="large", params={"alpha": "0.9"}, tags={"team": "b"})
    mlflow.sklearn.log_model(model, name="large-v2", params={"alpha": "0.9"})
def names(flt):
    found = mlflow.search_logged_models(
        experiment_ids=[exp], filter_string=flt, output_format="list"
    )
    return sorted(m.name for m in found)
out = {
    "all": names(None),
    "name": names("name = 'small'"),
    "param": names("params.alpha = '0.9'"),
    "like_and": names("name LIKE 'large%' AND tags.team = 'b'"),
    "not": names("name != 'small'"),
}
try:
    names("name >> 'x'")
    out["bad"] = None
except MlflowException as exc:
    out["bad"] = exc.error_code
print(json.dumps(out))
"""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"{server.url}/mlflow",
        "MLFLOW_TRACKING_TOKEN": token,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["all"] == ["large", "large-v2", "small"]
    assert out["name"] == ["small"]
    assert out["param"] == ["large", "large-v2"]
    assert out["like_and"] == ["large"]
    assert out["not"] == ["large", "large-v2"]
    assert out["bad"] == "INVALID_PARAMETER_VALUE"
