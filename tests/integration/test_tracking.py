"""Native experiment tracking on SQLite and Postgres: tasks log through ``current()``, every
task run is a tracked run, and the CLI compares, searches and plots them."""

from __future__ import annotations

import math

import pytest

from mlstudio.testing.flows import working_copy

FLOW = """
from mlstudio import task, workflow, current

@task
def train(lr: float = 0.1, kind: str = "gbm", points: int = 5) -> float:
    c = current()
    c.log_params({"layers": 3})
    for i in range(points):
        c.log_metric("train/loss", 1.0 / (i + 1) + lr, step=i)
    c.log_metric("auc", 1.0 - lr)
    c.log_metric("odd", float("nan"))
    c.log_metric("big", float("inf"))
    c.set_tag("team", "a")
    p = c.scratch / "notes.txt"
    p.write_text("hello")
    c.log_artifact(p, artifact_path="docs")
    return lr

@task
def twice() -> int:
    current().log_param("p", 1)
    current().log_param("p", 2)
    return 1

@task
def escape() -> int:
    current().log_text("x", "../outside.txt")
    return 1

@workflow
def pipe(lr: float = 0.1, kind: str = "gbm", points: int = 5) -> float:
    return train(lr, kind, points)

@workflow
def refused() -> int:
    return twice()

@workflow
def escaping() -> int:
    return escape()
"""


def _run(studio, flow: str, *args: str) -> str:
    out = studio.ok("run", flow, *args)
    assert out["state"] == "succeeded", out
    return out["id"]


def test_task_logging_is_tracked_and_compared(studio, tmp_path):
    flow = working_copy(tmp_path, FLOW, "pipe")
    first = _run(studio, flow, "-p", "lr=0.1", "--experiment", "churn")
    second = _run(studio, flow, "-p", "lr=0.3", "--experiment", "churn")

    runs = studio.ok("runs", "search", "--experiment", "churn")["runs"]
    assert len(runs) == 2
    one = next(r for r in runs if r["workflow_run_id"] == first)
    assert one["params"] == {"kind": "gbm", "layers": "3", "lr": "0.1", "points": "5"}
    assert one["metrics"]["auc"] == pytest.approx(0.9)
    assert one["metrics"]["odd"] == "NaN" and one["metrics"]["big"] == "Infinity"
    assert one["metrics"]["train/loss"] == pytest.approx(0.2 + 0.1)
    assert one["tags"]["team"] == "a" and one["tags"]["mlstudio.task"] == "train"
    assert one["status"] == "FINISHED" and one["experiment"] == "churn"

    found = studio.ok(
        "runs",
        "search",
        "--filter",
        "metrics.auc > 0.8 and params.kind = 'gbm'",
        "--order-by",
        "metrics.auc",
    )["runs"]
    assert [r["workflow_run_id"] for r in found] == [first]
    ordered = studio.ok("runs", "search", "--order-by", "metrics.auc ASC")["runs"]
    assert [r["workflow_run_id"] for r in ordered] == [second, first]
    like = studio.ok("runs", "search", "--filter", "params.kind LIKE 'G%'")["runs"]
    assert like == []  # LIKE is case-sensitive, as in MLflow
    ilike = studio.ok("runs", "search", "--filter", "params.kind ILIKE 'G%'")["runs"]
    assert len(ilike) == 2

    compared = studio.ok("runs", "compare", first, second, "--only-differences")
    keys = {p["key"] for p in compared["params"]}
    assert keys == {"lr"}
    auc = next(m for m in compared["metrics"] if m["key"] == "auc")
    assert auc["best"] == 0 and auc["direction"] == "max"
    loss = next(m for m in compared["metrics"] if m["key"] == "train/loss")
    assert loss["best"] == 0 and loss["direction"] == "min"
    human = studio.cli("runs", "compare", first, second)
    assert human.code == 0 and "*" in human.stdout and "params.lr" in human.stdout

    exps = {e["name"]: e for e in studio.ok("experiments", "list")}
    assert exps["churn"]["runs"] == 2
    shown = studio.ok("experiments", "show", "churn")
    assert len(shown["recent"]) == 2

    png = tmp_path / "loss.png"
    plotted = studio.ok("runs", "plot", first, "--metric", "train/loss", "--to", str(png))
    assert plotted["points"] == 5 and png.read_bytes()[:4] == b"\x89PNG"


def test_a_cache_hit_logs_nothing_and_links_to_its_producer(studio, tmp_path):
    flow = working_copy(tmp_path, FLOW, "pipe")
    first = _run(studio, flow)
    second = _run(studio, flow)
    with studio.opened() as platform:
        producer = platform.tracking.runs(platform.tracking.resolve(first))[0]
        hit = platform.tracking.runs(platform.tracking.resolve(second))[0]
        assert hit["cache_hit"] and hit["produced_by"] == producer["id"]
        assert hit["metrics"] == {}
        assert len(platform.tracking.history(producer["id"], "train/loss")) == 5
        assert platform.tracking.artifact(producer["id"], "docs/notes.txt") == b"hello"
        assert math.isnan(platform.tracking.history(producer["id"], "odd")[0]["value"])


def test_many_points_from_one_task_are_all_stored(studio, tmp_path):
    flow = working_copy(tmp_path, FLOW, "pipe")
    run = _run(studio, flow, "-p", "points=20000")
    with studio.opened() as platform:
        tracked = platform.tracking.resolve(run)[0]
        points = platform.tracking.history(tracked, "train/loss")
    assert len(points) == 20000 and [p["step"] for p in points[:3]] == [0, 1, 2]


def test_bad_logging_and_bad_filters_are_refused(studio, tmp_path):
    flow = working_copy(tmp_path, FLOW, "refused")
    out = studio.cli("run", flow, "--json")
    assert out.code != 0
    with studio.opened() as platform:
        runs = platform.tracking.search(filter="attributes.status = 'FAILED'")[0]
        assert len(runs) == 1 and "already logged" in runs[0]["tags"]["mlstudio.error"]
    flow = working_copy(tmp_path, FLOW, "escaping")
    assert studio.cli("run", flow, "--json").code != 0
    with studio.opened() as platform:
        failed = platform.tracking.search(filter="attributes.status = 'FAILED'")[0]
        assert any("leaves the run" in r["tags"].get("mlstudio.error", "") for r in failed)

    bad = studio.fails("runs", "search", "--filter", "metrics.auc >> 1", code=2)
    assert "invalid filter" in bad.stderr
    studio.fails("runs", "search", "--filter", "params.kind > 'a'", code=2)
    studio.fails("runs", "search", "--filter", "foo.x = 1", code=2)
    studio.fails("runs", "search", "--filter", "metrics.a > 1 or metrics.b > 1", code=2)
    studio.fails("runs", "compare", "nope", "nada", code=3)
    studio.fails("experiments", "show", "nope", code=3)


def test_filter_parser_grammar():
    from mlstudio.integrations.tracking.search import parse_filter, parse_order_by

    clauses = parse_filter(
        "metrics.`val loss` <= 1e-3 and params.kind IN ('a', 'b') and tags.\"x y\" != 'z' "
        "and attributes.status = 'FINISHED' and metrics.train/loss > -2"
    )
    assert [(c.kind, c.key, c.op) for c in clauses] == [
        ("metrics", "val loss", "<="),
        ("params", "kind", "IN"),
        ("tags", "x y", "!="),
        ("attributes", "status", "="),
        ("metrics", "train/loss", ">"),
    ]
    assert clauses[1].value == ("a", "b") and clauses[4].value == -2.0
    assert parse_order_by(["metrics.auc DESC"])[0].ascending is False


@pytest.mark.parametrize("studio", ["postgres"], indirect=True)
def test_two_engines_creating_the_same_experiments_at_once_both_go_on(platform):
    """Two engines' first tracked tasks race to create ``Default`` (id 0) and a named
    experiment: the second waits on the first's uncommitted rows, then reads them (it used to
    fail its engine with a unique violation, and another driver had to resume the run)."""
    import threading

    from sqlalchemy import text

    from mlstudio.integrations.tracking.service import ensure_default, experiment_id_for
    from mlstudio.testing.flows import wait_until

    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            with platform.store.transaction() as uow:
                ensure_default(uow, "bob")
                outcome["id"] = experiment_id_for(uow, "race", "bob")
        except Exception as exc:  # the assertion below names it
            outcome["error"] = exc

    def blocked() -> bool:
        with platform.store.read() as uow:
            q = (
                "select count(*) from pg_stat_activity"
                " where datname = current_database() and wait_event_type = 'Lock'"
            )
            return uow.conn.execute(text(q)).scalar() > 0

    with platform.store.transaction() as uow:
        ensure_default(uow, "alice")
        first = experiment_id_for(uow, "race", "alice")
        thread = threading.Thread(target=second)
        thread.start()
        wait_until(blocked, "the second engine to wait on the first one's rows", 30)
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["id"] == first
    with platform.store.read() as uow:
        assert uow.tracking.experiment(0)["name"] == "Default"
        assert [e["name"] for e in uow.tracking.experiments()].count("race") == 1


def test_a_large_batch_keeps_nan_infinities_and_the_latest_point(platform):
    """Batches of 20+ rows take Postgres's COPY path (store/metadata/bulk.py): the values, NaN,
    the infinities and each key's latest point come back exactly as executemany stores them."""
    tracking = platform.tracking
    exp = tracking.ensure_experiment(platform.actor, "bulk")
    run = tracking.create_run(platform.actor, exp["id"])["id"]
    special = [float("nan"), float("inf"), float("-inf"), 0.0, -1.5e300]
    batch = [
        (f"k{i % 7}", special[i % 5] if i % 3 == 0 else i / 10, i, 1_000 + i) for i in range(500)
    ]
    tracking.log_batch(platform.actor, run, metrics=batch)
    tracking.log_batch(platform.actor, run, metrics=[("k0", 42.0, 10_000, 5)])
    for key in ("k0", "k3"):
        stored = tracking.history(run, key)
        sent = [p for p in batch if p[0] == key] + (
            [("k0", 42.0, 10_000, 5)] if key == "k0" else []
        )
        assert [p["step"] for p in stored] == [p[2] for p in sent]
        for point, (_, value, _, _) in zip(stored, sent, strict=True):
            assert math.isnan(point["value"]) if math.isnan(value) else point["value"] == value
    by_key = tracking.get_run(run)["metrics"]
    assert (by_key["k0"]["value"], by_key["k0"]["step"]) == (42.0, 10_000)
    last_k3 = max((p for p in batch if p[0] == "k3"), key=lambda p: p[2])
    assert by_key["k3"]["step"] == last_k3[2]
