"""A module task as the serving fallback's baseline (``--fallback NS/MODULE/TASK``), in
process on SQLite and on Postgres: pinned at start, governed like a run start, called with the
request rows, and recorded like the other baselines; every way it can be wrong is refused at
start or fails that request's baseline step (503), never the process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlstudio.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
)
from mlstudio.integrations.serving.app import create_app
from mlstudio.integrations.serving.auth import TokenCache
from mlstudio.integrations.serving.fallback import NoAnswerError
from mlstudio.integrations.serving.predlog import PredictionLog
from mlstudio.integrations.serving.runtime import ServeConfig, Serving
from mlstudio.testing.serving import write_module

RULES = """
import numpy as np

from mlstudio import task, workflow


@task
def rule(rows: list[dict]) -> list[float]:
    return [row["a"] / 100.0 + row["b"] / 1000.0 for row in rows]


@task
def as_array(rows: list[dict]) -> list[float]:
    return np.asarray([0.125] * len(rows))


@task
def one_value(rows: list[dict]) -> list[float]:
    return [0.5]


@task
def words(rows: list[dict]) -> list[float]:
    return ["high" for _ in rows]


@task
def raising(rows: list[dict]) -> list[float]:
    raise ValueError("no rule for these rows")


@task
def pair(rows: list[dict], other: list[dict]) -> list[float]:
    return [0.0 for _ in rows]


@workflow
def flow():
    return rule([])
"""

TRIGGER_ROW = {"a": 60.0, "b": 1.0}  # makes the raising model raise (its sample check passes)


def push_rules(studio, root: Path, body: str = RULES, *, promote: bool = True) -> int:
    root.mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text('[module]\nname = "shop/rules"\nrequirements = []\n')
    (root / "tasks.py").write_text(body)
    version = studio.ok("module", "push", root)["version"]
    if promote:
        studio.ok("module", "promote", "shop/rules", str(version))
    return version


def raising_model(studio, tmp_path: Path) -> None:
    """Model ``churn``, alias ``live`` → a version that raises on rows with ``a >= 50``."""
    studio.ok("module", "push", write_module(tmp_path / "scoring"), "--no-tests")
    run = studio.ok("run", "shop/scoring/bad:latestAlpha", "-p", "kind=raising")
    assert run["state"] == "succeeded"
    version = studio.ok("model", "register", "churn", "--run", run["id"], "--namespace", "shop")
    studio.ok("model", "alias", "churn", "live", str(version["version"]))


def serving(platform, fallback: str, actor: str = "alice", **config) -> Serving:
    return Serving(
        platform,
        actor,
        ServeConfig(name="churn", alias="live", fallback=fallback, seal_every_s=0, **config),
    )


def test_a_module_task_answers_for_a_failing_model_pinned_at_start_and_logged(
    studio, tmp_path: Path
):
    studio.ok("namespace", "create", "shop")
    raising_model(studio, tmp_path)
    assert push_rules(studio, tmp_path / "rules") == 1

    with studio.opened() as platform:
        served = serving(platform, "previous,shop/rules/rule", defaults={"b": 5.0})
        served.start()
        try:
            # latest moves after the start: the running server keeps the version it pinned
            push_rules(studio, tmp_path / "rules", RULES.replace("/ 100.0", "/ 10.0"))
            assert served.describe()["baseline"] == "shop/rules@1/rule"

            out = asyncio.run(served.predict({"rows": [TRIGGER_ROW, {"a": 70.0}]}, "r1"))
            assert out["answered_by"] == "baseline" and out["fallback_reason"] == "error"
            assert out["version"] is None
            # the rows the model gets: b takes its --defaults value where it is missing
            assert out["predictions"] == pytest.approx([0.601, 0.705])
            ok = asyncio.run(served.predict({"rows": [{"a": 1.0, "b": 2.0}]}, "r2"))
            assert ok["answered_by"] == "model" and ok["predictions"] == [0.25]
            metrics = served.metrics.render()
            assert 'mlstudio_serve_fallbacks_total{reason="error",target="baseline"} 1' in metrics
            served.predlog.flush()
            records = PredictionLog.read(sorted(served.predlog.root.glob("seg-*")))
        finally:
            served.stop()

    logged = {r["request_id"]: r for r in records}
    assert logged["r1"]["answered_by"] == "baseline"
    assert logged["r1"]["fallback_reason"] == "error"
    assert logged["r1"]["attempts"][-1] == "baseline:shop/rules@1/rule ok"
    assert logged["r1"]["outputs"] == pytest.approx([0.601, 0.705])
    assert logged["r1"]["inputs"][1] == {"a": 70.0}  # the log keeps what the caller sent
    assert logged["r2"]["answered_by"] == "model"


def test_a_baseline_that_answers_wrongly_or_raises_fails_its_step_with_a_503(
    studio, tmp_path: Path
):
    studio.ok("namespace", "create", "shop")
    raising_model(studio, tmp_path)
    push_rules(studio, tmp_path / "rules")

    with studio.opened() as platform:
        arrays = serving(platform, "shop/rules@1/as_array")
        arrays.start()
        try:
            out = asyncio.run(arrays.predict({"rows": [TRIGGER_ROW, TRIGGER_ROW]}, "r0"))
            assert out["predictions"] == [0.125, 0.125] and out["answered_by"] == "baseline"
        finally:
            arrays.stop()

        _record, secret = platform.tokens.create("alice", "alice", ttl_days=1.0)
        headers = {"Authorization": f"Bearer {secret}"}
        cases = {
            "one_value": "returned 1 values for 2 rows",
            "words": "returned 'high' for row 0, not a finite number",
            "raising": "ValueError: no rule for these rows",
        }
        for task, detail in cases.items():
            served = serving(platform, f"shop/rules@latest/{task}")
            served.start()
            try:
                with TestClient(create_app(served, TokenCache(platform))) as client:
                    response = client.post(
                        "/v1/models/churn:predict",
                        json={"rows": [TRIGGER_ROW, TRIGGER_ROW]},
                        headers=headers,
                    )
                    metrics = client.get("/metrics", headers=headers).text
            finally:
                served.stop()
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["code"] == "no_answer"
            baseline = error["details"]["attempts"][-1]
            assert baseline["target"] == f"baseline:shop/rules@1/{task}"
            assert baseline["outcome"] == "error" and detail in baseline["detail"], baseline
            assert 'mlstudio_serve_errors_total{kind="no_answer"} 1' in metrics
            assert 'mlstudio_serve_requests_total{status="503"} 1' in metrics
            assert "mlstudio_serve_fallbacks_total{" not in metrics  # no answer, no fallback

        with pytest.raises(NoAnswerError, match=r"baseline:shop/rules@1/raising error"):
            served = serving(platform, "shop/rules/raising")
            served.start()
            try:
                asyncio.run(served.predict({"rows": [TRIGGER_ROW]}, "r9"))
            finally:
                served.stop()


def test_a_baseline_that_cannot_be_used_stops_the_start_with_one_line(studio, tmp_path: Path):
    studio.ok("namespace", "create", "shop")
    studio.ok("user", "add", "bob")
    studio.ok("user", "grant", "bob", "viewer", "--domain", "production")  # may load models
    push_rules(studio, tmp_path / "rules")
    unpromoted = push_rules(studio, tmp_path / "rules", RULES + "\nNOTE = 2\n", promote=False)

    cases = [
        ("alice", "shop/nope/rule", NotFoundError, "--fallback shop/nope/rule: module shop/nope"),
        ("alice", "shop/rules:stable/rule", NotFoundError, "shop/rules has no tag 'stable'"),
        (
            "alice",
            "shop/rules/nope",
            NotFoundError,
            "shop/rules@1 has no task nope: its tasks are as_array, one_value, pair, raising, "
            "rule, words",
        ),
        ("alice", "shop/rules/flow", NotFoundError, "shop/rules@1 flow is a workflow"),
        (
            "alice",
            "shop/rules/pair",
            InvalidInputError,
            "shop/rules@1/pair cannot be called with one argument (the rows)",
        ),
        ("bob", "shop/rules/rule", PermissionDeniedError, "bob may not run workflows in domain"),
        (
            "alice",
            f"shop/rules@{unpromoted}/rule",
            PolicyViolationError,
            f"shop/rules@{unpromoted} is not promoted",
        ),
    ]
    with studio.opened() as platform:
        for actor, ref, error, message in cases:
            served = serving(platform, ref, actor=actor)
            with pytest.raises(error) as raised:
                served.start()
            assert message in raised.value.message, raised.value.message
            assert raised.value.message.startswith(f"--fallback {ref}: ")
            assert "\n" not in raised.value.one_line() and raised.value.hint
            assert served.host.current is None and served.chain.baseline is None  # nothing served
            served.stop()
    denied = studio.ok("audit", "--action", "serve.baseline")
    assert {(e["actor"], e["resource"]) for e in denied} == {
        ("bob", "task:shop/rules@1/rule"),
        ("alice", f"task:shop/rules@{unpromoted}/rule"),
    }

    # the process: a refused baseline exits non-zero with the one-line error, nothing served
    refused = studio.cli("serve", "churn", "--fallback", "shop/rules/nope")
    assert refused.code == 3 and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("error: --fallback shop/rules/nope: shop/rules@1 has no task")
