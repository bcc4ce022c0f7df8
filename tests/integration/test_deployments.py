"""Deployments (desired state, who may deploy, audit, bad input) and batch scoring
(``mlstudio predict``: governed read, load and write; refusals; missing columns) on SQLite and
Postgres. The supervisor that runs deployments is tested with a real server in
tests/e2e/test_deployments.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstudio.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from mlstudio.testing.serving import write_module


def register(studio, name: str, workflow: str, *params: str) -> int:
    run = studio.ok("run", f"shop/scoring/{workflow}:latestAlpha", *params)
    assert run["state"] == "succeeded"
    made = studio.ok("model", "register", name, "--run", run["id"], "--namespace", "shop")
    return made["version"]


@pytest.fixture
def trained(studio, tmp_path: Path):
    studio.ok("namespace", "create", "shop")
    studio.ok("module", "push", write_module(tmp_path / "mod"), "--no-tests")
    first = register(studio, "churn", "fit", "-p", "c=1.0")
    studio.ok("model", "alias", "churn", "live", str(first))
    return studio


def served(studio, user: str = "alice"):
    from mlstudio.app.local import LocalStudio

    platform = studio.platform(user)
    return LocalStudio(platform, user, served=True, owns_platform=True)


def test_deploy_records_the_desired_state_governed_and_audited(trained):
    studio = trained
    app = served(studio)
    try:
        made = app.deployments.deploy("churn", alias="live", fallback="previous,constant:0.5")
        assert (made["status"], made["revision"], made["domain"]) == ("pending", 1, "production")
        assert made["created_by"] == "alice" and made["url"] is None and made["restarts"] == 0
        changed = app.deployments.deploy("churn", alias="live", port=18999)
        assert changed["revision"] == 2 and changed["port"] == 18999 and changed["fallback"] is None
        assert [d["name"] for d in app.deployments.list()] == ["churn"]

        with pytest.raises(NotFoundError, match="no alias 'champion'"):
            app.deployments.deploy("churn")
        with pytest.raises(NotFoundError, match="model nope does not exist"):
            app.deployments.deploy("nope", alias="live")
        with pytest.raises(InvalidInputError, match="invalid fallback 'magic'"):
            app.deployments.deploy("churn", alias="live", fallback="magic")
        with pytest.raises(NotFoundError, match="domain"):
            app.deployments.deploy("churn", alias="live", domain="nowhere")
        assert app.deployments.show("churn")["revision"] == 2  # nothing changed

        studio.ok("user", "add", "bob")
        bob = served(studio, "bob")
        try:
            with pytest.raises(PermissionDeniedError, match="bob may not deploy"):
                bob.deployments.deploy("churn", alias="live")
            with pytest.raises(PermissionDeniedError, match="bob may not remove deployments"):
                bob.deployments.remove("churn")
            assert bob.deployments.show("churn")["revision"] == 2  # reading is open
        finally:
            bob.close()
        studio.ok("namespace", "grant", "shop", "bob", "maintainer")
        bob = served(studio, "bob")
        try:  # a maintainer, but the serving process would load models in production as bob
            with pytest.raises(PermissionDeniedError, match="load models in domain production"):
                bob.deployments.deploy("churn", alias="live")
            studio.ok("user", "grant", "bob", "runner", "--domain", "production")
            assert bob.deployments.deploy("churn", alias="live")["updated_by"] == "bob"
        finally:
            bob.close()

        assert app.deployments.remove("churn") == {"name": "churn", "removed": True}
        assert app.deployments.show("churn")["status"] == "removing"  # until the supervisor
    finally:
        app.close()
    events = studio.ok("audit", "--action", "deploy")
    decisions = sorted((e["action"], e["actor"], e["decision"]) for e in events)
    assert decisions == [
        ("deploy.remove", "alice", "allow"),
        ("deploy.remove", "bob", "deny"),
        ("deploy.set", "alice", "allow"),
        ("deploy.set", "alice", "allow"),
        ("deploy.set", "bob", "allow"),
        ("deploy.set", "bob", "deny"),
        ("deploy.set", "bob", "deny"),
    ]


def test_embedded_deploy_refuses_in_one_line_naming_the_server(trained):
    failed = trained.fails("deploy", "churn", "--alias", "live", code=7)
    assert "mlstudio server" in failed.stderr and "mlstudio serve churn" in failed.stderr
    assert trained.ok("deploy", "list") == []
    assert "no deployment 'churn'" in trained.fails("deploy", "show", "churn", code=3).stderr


def test_batch_predict_writes_a_classified_dataset_and_refuses_bad_input(trained, tmp_path):
    studio = trained
    csv = tmp_path / "customers.csv"
    csv.write_text("id,a,b\n" + "".join(f"{i},{i % 10},{(i * 3) % 10}\n" for i in range(40)))
    studio.ok("data", "import", csv, "--name", "shop/customers", "--classify", "id=internal",
              "--classify", "a=confidential", "--classify", "b=internal+ugc")  # fmt: skip
    out = studio.ok("predict", "churn@live", "--input", "shop/customers", "--output", "shop/scored")
    assert out["output"] == "shop/scored@1" and out["rows"] == 40 and out["version"] == 1
    assert out["classification"] == "confidential+ugc"  # a and b; the model is public
    shown = studio.ok("data", "show", "shop/scored")
    columns = {c["name"]: c for c in shown["columns"]}
    assert list(columns) == ["id", "a", "b", "prediction", "model_version"]
    assert columns["id"]["classification"] == "internal"
    assert columns["prediction"]["classification"] == "confidential+ugc"
    assert columns["model_version"]["classification"] == "confidential+ugc"
    with studio.opened() as platform:
        table = platform.datasets.read("alice", "shop/scored", domain="production").to_arrow()
    scores = table.column("prediction").to_pylist()
    assert all(0.0 <= s <= 1.0 for s in scores) and len(set(scores)) > 1
    assert set(table.column("model_version").to_pylist()) == {1}
    # the same as the serving path answers for a row
    a0, b0 = table.column("a")[5].as_py(), table.column("b")[5].as_py()
    with studio.opened() as platform:
        from mlstudio.integrations.serving.host import ModelHost

        host = ModelHost(platform, "alice", "churn", "live", domain="production")
        loaded = host.load("churn@live")
        prepared, _ = loaded.prepare([{"a": a0, "b": b0}])
        assert loaded.predict(prepared) == [pytest.approx(scores[5])]

    # missing columns: one line naming them and the model's; nothing written
    bad = tmp_path / "bad.csv"
    bad.write_text("id,a\n1,2\n")
    studio.ok("data", "import", bad, "--name", "shop/partial", "--classify", "id=internal",
              "--classify", "a=internal")  # fmt: skip
    failed = studio.fails(
        "predict", "churn@live", "--input", "shop/partial", "--output", "shop/scored2", code=2
    )
    assert "lacks column(s) b that churn/1 reads" in failed.stderr
    assert "shop/scored2" not in [d["name"] for d in studio.ok("data", "list")]
    studio.fails("predict", "churn@nope", "--input", "shop/customers", "--output", "shop/x",
                 code=3)  # fmt: skip


def test_batch_predict_refuses_a_pii_model_where_pii_may_not_be_read(trained, tmp_path):
    studio = trained
    studio.ok("domain", "create", "pii-lab", "--clearance", "confidential", "--readable-labels",
              "all", "--persist", "--no-promoted-only")  # fmt: skip
    run = studio.ok("run", "shop/scoring/fit_pii:latestAlpha", "--domain", "pii-lab")
    studio.ok("model", "register", "people", "--run", run["id"], "--namespace", "shop")
    studio.ok("model", "alias", "people", "live", "1")
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b\n1,2\n3,4\n")
    studio.ok("data", "import", csv, "--name", "shop/rows", "--classify", "a=internal",
              "--classify", "b=internal")  # fmt: skip
    failed = studio.fails(
        "predict", "people@live", "--input", "shop/rows", "--output", "shop/people-scored",
        "--domain", "experimentation", code=4,
    )  # fmt: skip
    assert "pii" in failed.stderr
    denied = [e for e in studio.ok("audit", "--action", "model.load") if e["decision"] == "deny"]
    assert [e["resource"] for e in denied] == ["model:people@live"]
    assert "shop/people-scored" not in [d["name"] for d in studio.ok("data", "list")]
    # where pii may be read, it is scored and the output carries pii
    studio.ok("data", "import", csv, "--name", "shop/lab-rows", "--domain", "pii-lab",
              "--classify", "a=internal", "--classify", "b=internal")  # fmt: skip
    done = studio.ok("predict", "people@live", "--input", "shop/lab-rows", "--output",
                     "shop/people-scored", "--domain", "pii-lab")  # fmt: skip
    assert "pii" in done["classification"]
