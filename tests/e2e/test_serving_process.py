"""``mlstudio serve`` as a real process: predictions, bad input, following the alias (and
refusing broken versions), the fallback chain, the metadata DB going down, ``kill -9`` and
the prediction log. One trained home on Postgres is cloned for each test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlstudio.testing.databases import fresh_postgres_database
from mlstudio.testing.serving import (
    ServeProcess,
    Template,
    clone,
    corrupt_artifact,
    drop,
    prepare_home,
    run_cli,
    set_connections,
    start_serve,
)

pytestmark = pytest.mark.timeout(900)

ROW = {"a": 1.0, "b": 2.0}
TRIGGER_ROW = {"a": 60.0, "b": 1.0}  # makes the misbehaving versions misbehave


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    with fresh_postgres_database() as url:
        home = tmp_path_factory.mktemp("serve-template") / "home"
        versions = prepare_home(home, url)
        yield Template(home, url, versions)


@pytest.fixture
def studio(template: Template, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    home, url = clone(template, tmp_path)
    yield home, url
    drop(url)


@pytest.fixture
def serve(studio: tuple[Path, str]) -> Iterator[Any]:
    started: list[ServeProcess] = []

    def make(*options: str) -> ServeProcess:
        home, url = studio
        served = start_serve(home, url, "churn", "--alias", "live", *options)
        started.append(served)
        assert served.proc.poll() is None, served.log_text()
        return served

    yield make
    for served in started:
        served.stop()


def alias(studio: tuple[Path, str], version: int) -> None:
    run_cli(*studio, "model", "alias", "churn", "live", str(version))


def metric(served: ServeProcess, line_start: str) -> float:
    text = served.client().get("/metrics").text
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_predicts_with_version_and_request_id_and_refuses_bad_input(serve, template):
    served = serve("--fallback", "constant:0.5")
    good = served.predict([ROW, {"a": 9.0, "b": 9.0}])
    assert good.status_code == 200, good.text
    body = good.json()
    assert body["version"] == template.versions["good"] and body["answered_by"] == "model"
    assert len(body["predictions"]) == 2 and body["predictions"][0] < 0.5 < body["predictions"][1]
    assert body["request_id"] and good.headers["x-request-id"] == body["request_id"]

    # a null/missing value with a declared default (b: 5.0) is filled and counted
    filled = served.predict([{"a": 1.0, "b": None}]).json()
    assert filled["answered_by"] == "model"
    assert metric(served, 'mlstudio_serve_missing_inputs_total{action="default",column="b"}') == 1
    # without a default: the fallback answers, never a 500
    missing = served.predict([{"b": 1.0}])
    assert missing.status_code == 200 and missing.json()["answered_by"] == "baseline"
    assert missing.json()["fallback_reason"] == "missing_input"
    assert metric(served, 'mlstudio_serve_missing_inputs_total{action="fallback",column="a"}') == 1

    client = served.client()
    url = "/v1/models/churn:predict"
    malformed = client.post(
        url, content=b'{"rows": [', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["error"]["message"]
    typed = served.predict([{"a": "high", "b": 1.0}])
    assert typed.status_code == 400 and "column a must be a number" in typed.text
    shape = client.post(url, json={"rows": "nope"})
    assert shape.status_code == 400
    huge = client.post(url, content=b"x" * (10 * 1024 * 1024))
    assert huge.status_code == 413
    assert client.post("/v1/models/other:predict", json={"rows": [ROW]}).status_code == 404

    assert httpx.get(served.url + "/health").status_code == 200  # no token
    assert httpx.post(served.url + url, json={"rows": [ROW]}).status_code == 401
    assert httpx.get(served.url + "/ready").status_code == 401
    assert client.get("/ready").json()["ready"] is True
    assert client.get("/openapi.json").json()["paths"]["/v1/models/{model}:predict"]
    assert metric(served, 'mlstudio_serve_requests_total{status="400"}') == 3
    assert metric(served, 'mlstudio_serve_requests_total{status="413"}') == 1
    assert metric(served, 'mlstudio_serve_requests_total{status="500"}') == 0


def test_follows_the_alias_refuses_broken_versions_and_rolls_back(
    serve, studio, template, tmp_path
):
    v = template.versions
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps([ROW, TRIGGER_ROW]))  # the raising version fails this check
    served = serve("--sample", str(sample), "--poll", "0.2")
    assert served.show()["version"] == v["good"]

    alias(studio, v["other"])
    served.wait_for(lambda: served.show()["version"] == v["other"], what="swap to other")
    assert served.predict([ROW]).json()["version"] == v["other"]
    assert served.show()["previous_version"] == v["good"]

    alias(studio, v["raising"])  # answers, but not the declared sample request
    shown = served.wait_for(
        lambda: (s := served.show())["rejected"].get(str(v["raising"])) and s, what="refusal"
    )
    assert "sample request failed" in shown["rejected"][str(v["raising"])]
    assert shown["version"] == v["other"]
    assert served.predict([ROW]).json()["version"] == v["other"]
    refused = run_cli(*studio, "audit", "--action", "serve.swap.refused")
    assert [e["resource"] for e in refused] == [f"model:churn/{v['raising']}"]

    corrupt_artifact(*studio, "churn", v["hanging"])
    alias(studio, v["hanging"])
    shown = served.wait_for(
        lambda: (s := served.show())["rejected"].get(str(v["hanging"])) and s, what="corrupt"
    )
    assert "is corrupt" in shown["rejected"][str(v["hanging"])]
    assert served.predict([ROW]).json()["version"] == v["other"]

    alias(studio, v["good"])  # rollback: no restart, the kept version answers again
    served.wait_for(lambda: served.show()["version"] == v["good"], what="rollback")
    assert served.predict([ROW]).json()["version"] == v["good"]
    events = run_cli(*studio, "audit", "--action", "serve.swap")
    swaps = [e["resource"] for e in events if e["action"] == "serve.swap"]
    assert sorted(swaps) == [f"model:churn/{v['good']}", f"model:churn/{v['other']}"]


def test_a_raising_model_falls_back_to_the_previous_version_and_trips_the_breaker(
    serve, studio, template
):
    v = template.versions
    served = serve("--fallback", "previous,constant:0.5", "--poll", "0.2")
    alias(studio, v["raising"])  # passes the default check (small a), fails on a >= 50
    served.wait_for(lambda: served.show()["version"] == v["raising"], what="swap")
    ok = served.predict([ROW]).json()
    assert ok["version"] == v["raising"] and ok["predictions"] == [0.25]
    failed = served.predict([TRIGGER_ROW]).json()
    assert failed["answered_by"] == "previous" and failed["version"] == v["good"]
    assert failed["fallback_reason"] == "error"
    for _ in range(3):  # 5 consecutive failures (2 per request: the retry) open the breaker
        served.predict([TRIGGER_ROW])
    cooled = served.predict([ROW]).json()  # even a good row skips the model in cooldown
    assert cooled["fallback_reason"] == "circuit_open" and cooled["version"] == v["good"]
    assert "open" in served.show()["breakers"].values()
    assert (
        metric(served, 'mlstudio_serve_fallbacks_total{reason="circuit_open",target="previous"}')
        >= 1
    )


def test_a_hanging_model_times_out_to_the_baseline(serve, studio, template):
    v = template.versions
    served = serve("--fallback", "column:rule", "--timeout-ms", "300", "--poll", "0.2")
    alias(studio, v["hanging"])
    served.wait_for(lambda: served.show()["version"] == v["hanging"], what="swap")
    answer = served.predict([{**TRIGGER_ROW, "rule": 0.125}]).json()
    assert answer["answered_by"] == "baseline" and answer["predictions"] == [0.125]
    assert answer["fallback_reason"] == "timeout"
    assert served.predict([ROW]).json()["predictions"] == [0.75]  # fast rows still served


def test_the_metadata_db_going_down_keeps_serving_the_loaded_version(serve, studio, template):
    served = serve("--poll", "0.2")
    assert served.predict([ROW]).status_code == 200  # the token is now cached
    set_connections(studio[1], allowed=False)
    try:
        served.wait_for(
            lambda: served.show()["metadata_db"] == "unreachable", what="DB seen as down"
        )
        for _ in range(5):
            answer = served.predict([ROW])
            assert answer.status_code == 200, answer.text
            assert answer.json()["version"] == template.versions["good"]
        assert httpx.post(
            served.url + "/v1/models/churn:predict",
            json={"rows": [ROW]},
            headers={"Authorization": "Bearer not-a-token"},
        ).status_code in (401, 503)
    finally:
        set_connections(studio[1], allowed=True)
    served.wait_for(lambda: served.show()["metadata_db"] == "reachable", what="DB back")


def test_kill_9_loses_at_most_the_unflushed_buffer_and_the_log_is_sealed(serve, studio):
    served = serve("--fallback", "constant:0.5")
    ids = [served.predict([ROW]).json()["request_id"] for _ in range(20)]
    served.wait_for(lambda: served.show()["prediction_log"]["written"] == 20, what="flush")
    late = [served.predict([ROW]).json()["request_id"] for _ in range(5)]
    served.kill9()

    again = serve("--fallback", "constant:0.5")  # recovers the segment the kill left open
    assert again.predict([{"b": 1.0}]).json()["answered_by"] == "baseline"
    code = again.stop()
    assert code == 0, again.log_text()
    assert "sealed into shop/churn-predictions" in again.log_text()
    shown = run_cli(*studio, "data", "show", "shop/churn-predictions")
    rows = int(shown.get("num_rows") or shown.get("rows") or shown["version"]["num_rows"])
    assert 21 <= rows <= 26  # 20 flushed + the restarted one; the 5 late ones may be lost
    columns = {c["name"]: c for c in shown["columns"]}
    assert {"request_id", "version", "prediction", "inputs", "fallback_reason"} <= set(columns)
    logged = (Path(studio[0]) / "serving" / "churn" / "predictions" / "sealed").glob("*.jsonl")
    seen = {json.loads(line)["request_id"] for p in logged for line in p.read_text().splitlines()}
    assert set(ids) <= seen and len(seen & set(late)) <= 5


def test_a_pii_model_is_refused_where_pii_may_not_be_read_and_logs_digests_where_it_may(
    studio, tmp_path
):
    home, url = studio
    refused = start_serve(home, url, "people", "--alias", "live", "--domain", "experimentation")
    code = refused.proc.wait(timeout=60)
    refused.stop()
    errors = [line for line in refused.log_text().splitlines() if line.startswith("error:")]
    assert code != 0 and len(errors) == 1 and "pii" in errors[0], refused.log_text()

    served = start_serve(home, url, "people", "--alias", "live", "--domain", "production")
    try:
        assert served.proc.poll() is None, served.log_text()
        assert served.show()["prediction_log"]["inputs"] == "sha256"
        assert served.predict([ROW]).status_code == 200
    finally:
        assert served.stop() == 0, served.log_text()
    shown = run_cli(home, url, "data", "show", "shop/people-predictions")
    columns = {c["name"]: c for c in shown["columns"]}
    assert "inputs" not in columns and "inputs_sha256" in columns
    assert "pii" in columns["prediction"]["labels"] and "pii" in columns["inputs_sha256"]["labels"]
    assert columns["request_id"]["labels"] == []


def test_200_concurrent_clients_during_alias_swaps_get_no_errors(serve, studio, template):
    v = template.versions
    served = serve("--poll", "0.1")
    stop = threading.Event()
    started = threading.Barrier(201)
    results: dict[int, list[tuple[int, Any]]] = {}

    def client(k: int) -> None:
        seen: list[tuple[int, Any]] = []
        headers = {"Authorization": f"Bearer {served.token}"}
        with httpx.Client(base_url=served.url, headers=headers, timeout=120) as http:
            first = True
            while first or not stop.is_set():
                try:
                    r = http.post("/v1/models/churn:predict", json={"rows": [ROW]})
                    seen.append((r.status_code, r.json().get("version")))
                except httpx.HTTPError as exc:
                    seen.append((0, repr(exc)))
                if first:
                    first = False
                    started.wait(timeout=300)
        results[k] = seen

    threads = [threading.Thread(target=client, args=(k,)) for k in range(200)]
    for t in threads:
        t.start()
    started.wait(timeout=300)
    alias(studio, v["other"])
    served.wait_for(lambda: served.show()["version"] == v["other"], what="swap", deadline_s=120)
    alias(studio, v["good"])
    served.wait_for(lambda: served.show()["version"] == v["good"], what="back", deadline_s=120)
    stop.set()
    for t in threads:
        t.join(timeout=300)
    assert len(results) == 200
    answers = [a for seen in results.values() for a in seen]
    assert [a for a in answers if a[0] != 200] == []
    assert {a[1] for a in answers} <= {v["good"], v["other"]}
    assert v["other"] in {a[1] for a in answers}
    for seen in results.values():  # an atomic swap: each client sees good → other → good
        versions = [version for _, version in seen]
        runs = [x for i, x in enumerate(versions) if i == 0 or versions[i - 1] != x]
        assert runs in (
            [v["good"]],
            [v["good"], v["other"]],
            [v["good"], v["other"], v["good"]],
            [v["other"]],
            [v["other"], v["good"]],
        ), runs


def test_the_kill_switch_flag_sends_traffic_to_the_fallback_within_a_second(serve, studio):
    served = serve("--fallback", "constant:0.5")
    first = served.predict([ROW]).json()
    assert first["answered_by"] == "model"
    assert served.show()["flags"]["kill"]["error_code"] == "FLAG_NOT_FOUND"
    run_cli(*studio, "flag", "set", "serve.churn.kill", "--value", "true")
    killed = served.wait_for(
        lambda: (a := served.predict([ROW]).json())["answered_by"] == "baseline" and a,
        what="kill switch",
    )
    assert killed["fallback_reason"] == "kill_switch" and killed["predictions"] == [0.5]
    run_cli(*studio, "flag", "set", "serve.churn.kill", "--value", "false")
    served.wait_for(
        lambda: served.predict([ROW]).json()["answered_by"] == "model", what="kill switch off"
    )


def test_a_route_split_is_sticky_per_subject_and_shadow_answers_are_logged_not_returned(
    serve, studio, template
):
    v = template.versions
    run_cli(*studio, "model", "alias", "churn", "challenger", str(v["other"]))
    served = serve("--also", "challenger", "--seal-every", "0")
    assert served.show()["aliases"] == {"live": v["good"], "challenger": v["other"]}
    run_cli(
        *studio,
        "flag",
        "set",
        "serve.churn.route",
        "--variant",
        "live=live",
        "--variant",
        "challenger=challenger",
        "--default",
        "live",
        "--split",
        "live=50",
        "--split",
        "challenger=50",
    )
    served.wait_for(
        lambda: served.show()["flags"]["route"]["reason"] != "ERROR", what="route flag loaded"
    )
    answers = {s: served.predict([ROW], subject=s).json() for s in map(str, range(40))}
    assert {a["alias"] for a in answers.values()} == {"live", "challenger"}
    for s, a in answers.items():
        assert a["version"] == (v["good"] if a["alias"] == "live" else v["other"])
        assert a["flag_reason"] == "SPLIT"
        again = served.predict([ROW], subject=s).json()
        assert again["alias"] == a["alias"]  # sticky

    run_cli(*studio, "flag", "set", "serve.churn.shadow", "--value", "challenger")
    run_cli(*studio, "flag", "remove", "serve.churn.route")

    def shadow_only() -> bool:  # both changes seen: one refresh may fall between the two
        flags = served.show()["flags"]
        return (
            flags["shadow"]["value"] == "challenger"
            and flags["route"]["error_code"] == "FLAG_NOT_FOUND"
        )

    served.wait_for(shadow_only, what="shadow flag set and route flag removed")
    reply = served.predict([ROW]).json()
    assert reply["alias"] == "live" and reply["version"] == v["good"]
    assert served.stop() == 0
    logged = (Path(studio[0]) / "serving" / "churn" / "predictions" / "sealed").glob("*.jsonl")
    records = [json.loads(line) for p in logged for line in p.read_text().splitlines()]
    shadows = [r for r in records if r["request_id"] == reply["request_id"]]
    assert sorted(r["variant"] for r in shadows) == ["live", "shadow:challenger"]
    copy = next(r for r in shadows if r["variant"] == "shadow:challenger")
    assert copy["version"] == v["other"] and copy["answered_by"] == "shadow"
    assert len(copy["outputs"]) == 1


RULE_TASKS = """
from mlstudio import task


@task
def rule(rows: list[dict]) -> list[float]:
    return [row["a"] / 100.0 + row["b"] / 1000.0 for row in rows]
"""


def test_the_kill_switch_sends_traffic_to_a_module_task_baseline(serve, studio, tmp_path):
    home, url = studio
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "module.toml").write_text('[module]\nname = "shop/rules"\nrequirements = []\n')
    (rules / "tasks.py").write_text(RULE_TASKS)
    run_cli(home, url, "module", "push", rules)
    run_cli(home, url, "module", "promote", "shop/rules", "1")

    refused = start_serve(home, url, "churn", "--alias", "live", "--fallback", "shop/rules/nope")
    assert refused.proc.wait(timeout=60) == 3  # exits at start: nothing served
    assert "error: --fallback shop/rules/nope: shop/rules@1 has no task nope" in (
        refused.log_text()
    )

    served = serve("--fallback", "previous,shop/rules/rule")
    assert served.show()["baseline"] == "shop/rules@1/rule"
    assert served.predict([ROW]).json()["answered_by"] == "model"
    run_cli(*studio, "flag", "set", "serve.churn.kill", "--value", "true")
    killed = served.wait_for(
        lambda: (
            (a := served.predict([ROW, {"a": 40.0, "b": 5.0}]).json())["answered_by"] == "baseline"
            and a
        ),
        what="kill switch",
    )
    assert killed["fallback_reason"] == "kill_switch" and killed["version"] is None
    assert killed["predictions"] == pytest.approx([0.012, 0.405])
    counted = 'mlstudio_serve_fallbacks_total{reason="kill_switch",target="baseline"}'
    assert metric(served, counted) >= 1
