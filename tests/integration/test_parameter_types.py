"""Element types of workflow parameters are checked before anything runs, on every trigger:
``mlstudio run``, ``runs clone``, the API trigger and schedules (SQLite and Postgres)."""

from __future__ import annotations

import textwrap

from fastapi.testclient import TestClient

from mlstudio.testing.flows import lines, write_flow

FLOW = """
from mlstudio import task, workflow

@task
def total(xs: list[int]) -> int:
    mark("total")
    return sum(xs)

@task
def train(kind: str) -> str:
    mark("train")
    return kind

@workflow
def sums(xs: list[int] = [1, 2]) -> int:
    return total(xs)

@workflow
def fan(kinds: list[str] = ["logreg", "gbm"]) -> list:
    return train.map(kind=kinds)

@workflow
def nested(weights: dict[str, list[float]] | None = None, xs: list[int] = [1]) -> int:
    return total(xs)
"""

MANIFEST = '[module]\nname = "team/typed"\ndescription = "typed parameters"\nowners = ["alice"]\n'


def runs_of(studio) -> list:
    return studio.ok("runs", "list")


def test_mlstudio_run_names_the_wrong_element_and_creates_no_run(studio, tmp_path):
    flow = write_flow(tmp_path, FLOW)
    failed = studio.fails("run", f"{flow}:sums", "-p", 'xs=["a","b"]', code=2)
    assert 'xs[0]: expected int, got str "a"' in failed.stderr
    assert 'xs[1]: expected int, got str "b"' in failed.stderr
    assert failed.json["error"]["code"] == "invalid_parameter"

    failed = studio.fails("run", f"{flow}:fan", "-p", "kinds=gbm", code=2)
    assert "kinds expects a list of str" in failed.stderr
    assert "fan-out" not in failed.stderr and "map" not in failed.stderr

    failed = studio.fails("run", f"{flow}:nested", "-p", 'weights={"a": [1, "x"]}', code=2)
    assert 'weights["a"][1]: expected float, got str "x"' in failed.stderr

    assert runs_of(studio) == [] and lines(tmp_path, "total") == lines(tmp_path, "train") == []
    ran = studio.ok("run", f"{flow}:sums", "-p", "xs=[3, 4]")
    assert ran["state"] == "succeeded" and ran["output_value"] == 7


def test_runs_clone_checks_the_changed_parameters(studio, tmp_path):
    flow = write_flow(tmp_path, FLOW)
    first = studio.ok("run", f"{flow}:sums")
    assert first["state"] == "succeeded" and lines(tmp_path, "total") == ["x"]
    failed = studio.fails("runs", "clone", first["id"], "-p", "xs=[1, 2.5]", code=2)
    assert "xs[1]: expected int, got float 2.5" in failed.stderr
    assert [r["id"] for r in runs_of(studio)] == [first["id"]]
    assert lines(tmp_path, "total") == ["x"]


def test_a_schedule_with_a_wrong_element_type_is_refused_when_added(studio, tmp_path):
    flow = write_flow(tmp_path, FLOW)
    failed = studio.fails(
        "schedule", "add", f"{flow}:sums", "--cron", "0 * * * *", "-p", 'xs=[1, "b"]', code=2
    )
    assert 'xs[1]: expected int, got str "b"' in failed.stderr
    assert studio.ok("schedule", "list") == []
    added = studio.ok("schedule", "add", f"{flow}:sums", "--cron", "0 * * * *", "-p", "xs=[5]")
    assert added["params"] == {"xs": "[5]"}


def test_the_api_trigger_checks_element_types(studio, tmp_path):
    folder = tmp_path / "typed"
    folder.mkdir()
    (folder / "module.toml").write_text(MANIFEST)
    (folder / "flows.py").write_text(
        textwrap.dedent(FLOW).replace('    mark("total")\n', "").replace('    mark("train")\n', "")
    )
    studio.ok("namespace", "create", "team")
    studio.ok("module", "push", folder, "--no-tests")
    with studio.opened() as platform:
        from mlstudio.api.app import create_app

        _record, token = platform.tokens.create("alice")
        with TestClient(create_app(platform)) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            refused = client.post(
                "/api/v1/workflows/team/typed/sums:latestAlpha/runs",
                json={"params": {"xs": [1, "b"]}},
            )
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert error["code"] == "invalid_parameter"
            assert 'xs[1]: expected int, got str "b"' in error["message"]
            refused = client.post(
                "/api/v1/workflows/team/typed/fan:latestAlpha/runs",
                json={"params": {"kinds": "gbm"}},
            )
            assert refused.status_code == 400
            assert "kinds expects a list of str" in refused.json()["error"]["message"]
            assert client.get("/api/v1/runs").json()["items"] == []
            accepted = client.post(
                "/api/v1/workflows/team/typed/sums:latestAlpha/runs",
                json={"params": {"xs": [1, 2]}},
            )
            assert accepted.status_code == 202, accepted.text
            assert accepted.json()["state"] == "queued"
