"""Model metrics against ground truth on SQLite and Postgres: a prediction log joined by
request id to labels that arrive late, a metric per window and slice against a baseline (a
value, or the one recorded in tracking), n-aware alerting, and "no data" for windows whose
labels have not arrived."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlstudio.errors import InvalidInputError, NotFoundError

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = "2026-01-31T06:00:00Z"  # 30 complete days: Jan 1 .. Jan 30
PER_DAY = 400
BAD_FROM = 20  # variant b's predictions degrade from Jan 21 (accuracy 0.85 -> 0.60)
LABELLED_UNTIL = 24  # at first, labels exist up to Jan 25 (day 24), and 20 of day 25's
CLASSIFY = ["--classify", "request_id=internal", "--classify", "at=internal",
            "--classify", "variant=internal", "--classify", "prediction=internal"]  # fmt: skip


def _log() -> tuple[dict[str, Any], dict[str, Any]]:
    """A prediction log (request_id, at, variant, prediction) and every request's label."""
    rng = np.random.default_rng(11)
    log: dict[str, list[Any]] = {"request_id": [], "at": [], "variant": [], "prediction": []}
    labels: dict[str, list[Any]] = {"request_id": [], "label": [], "day": []}
    for d in range(30):
        y = rng.integers(0, 2, PER_DAY)
        variant = rng.choice(["a", "b"], PER_DAY)
        right = rng.random(PER_DAY) < np.where((variant == "b") & (d >= BAD_FROM), 0.60, 0.85)
        p = np.where(right == (y == 1), 0.8, 0.2) + rng.uniform(-0.1, 0.1, PER_DAY)
        ids = [f"r{d:02d}-{i:04d}" for i in range(PER_DAY)]
        log["request_id"] += ids
        log["at"] += [DAY0 + timedelta(days=d, seconds=int(s))
                      for s in rng.integers(0, 86400, PER_DAY)]  # fmt: skip
        log["variant"] += variant.tolist()
        log["prediction"] += p.tolist()
        labels["request_id"] += ids
        labels["label"] += y.tolist()
        labels["day"] += [d] * PER_DAY
    return log, labels


def _write(path: Path, columns: dict[str, Any]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


def _import_labels(studio: Any, path: Path, labels: dict[str, Any], until_day: int) -> None:
    keep = [i for i, d in enumerate(labels["day"])
            if d <= until_day or (d == until_day + 1 and i % PER_DAY < 20)]  # fmt: skip
    cols = {k: [labels[k][i] for i in keep] for k in ("request_id", "label")}
    studio.ok("data", "import", _write(path, cols), "--name", "shop/labels", "--classify",
              "request_id=internal", "--classify", "label=internal")  # fmt: skip


@pytest.fixture
def served(studio, tmp_path: Path) -> dict[str, Any]:
    studio.ok("namespace", "create", "shop")
    log, labels = _log()
    studio.ok("data", "import", _write(tmp_path / "log.parquet", log), "--name",
              "shop/churn-predictions", *CLASSIFY)  # fmt: skip
    _import_labels(studio, tmp_path / "labels1.parquet", labels, LABELLED_UNTIL)
    return labels


def _service(p: Any) -> Any:
    from mlstudio.integrations.monitoring.service import MonitorService

    return MonitorService(p.store, p.cas, p.runs)


def _add(svc: Any, **truth: Any) -> dict[str, Any]:
    config = {"labels": "shop/labels", "metric": "accuracy", "baseline": 0.85,
              "tolerance": 0.08, "min_labels": 50, **truth}  # fmt: skip
    return svc.add("alice", "shop/churn-quality", source="shop/churn-predictions",
                   time_column="at", dimensions=["variant"], ground_truth=config)  # fmt: skip


def _windows(p: Any, svc: Any, check: str = "model:accuracy") -> dict[tuple[str, str], Any]:
    with p.store.read() as uow:
        row = uow.monitoring.get("shop/churn-quality")
        return {(w["slice"], w["window_key"]): w
                for w in uow.monitoring.windows(row["id"], check=check)}  # fmt: skip


def test_the_metric_per_window_and_slice_alerts_below_baseline_and_late_labels_fill_in(
    studio, served, tmp_path
):
    with studio.opened() as p:
        svc = _service(p)
        added = _add(svc)
        assert added["checks"] == ["data", "model:accuracy"]
        out = svc.run("alice", "shop/churn-quality", now=NOW)
        assert out["computed"]["model:accuracy"] == 30 * 3  # total + variant a + variant b
        w = _windows(p, svc)
        # labels have not arrived for Jan 27..30: no data, never a zero accuracy
        for day in ("2026-01-27", "2026-01-30"):
            assert w[("", day)]["status"] == "no_data" and w[("", day)]["result"]["value"] is None
            assert w[("", day)]["result"]["predictions"] > 300
        assert w[("", "2026-01-26")]["status"] == "too_few"  # 20 labels < 50
        a_good = [x for (s, _), x in w.items() if s == "variant=a" and x["status"] != "ok"]
        assert {x["status"] for x in a_good} == {"no_data", "too_few"}  # variant a never fires
        b = {k: x for (s, k), x in w.items() if s == "variant=b"}
        assert b["2026-01-20"]["status"] == "ok" and b["2026-01-21"]["status"] == "degraded"
        assert all(b[f"2026-01-{d}"]["status"] == "degraded" for d in range(21, 26))
        assert 0.5 < b["2026-01-22"]["result"]["value"] < 0.7
        assert abs(w[("", "2026-01-10")]["result"]["value"] - 0.85) < 0.06
        alerts = [a for a in svc.alerts("alice", "shop/churn-quality")
                  if a["slice"] == "variant=b"]  # fmt: skip
        [alert] = alerts
        assert alert["check"] == "model:accuracy" and alert["first_window"] == "2026-01-21"
        assert alert["last_window"] == "2026-01-25" and alert["state"] == "open"
        ev = alert["evidence"]
        assert ev["baseline"] == 0.85 and ev["value"] < 0.85 - 0.08 and ev["n"] >= 50
        assert svc.run("alice", "shop/churn-quality", now=NOW)["computed"] == {}  # nothing new

    _import_labels(studio, tmp_path / "labels2.parquet", served, 29)  # the late labels
    with studio.opened() as p:
        svc = _service(p)
        out = svc.run("alice", "shop/churn-quality", now=NOW)
        assert out["computed"] == {"model:accuracy": 5 * 3}  # Jan 26..30, redone once
        assert out["opened"] == [] and out["resolved"] == []  # the open episodes continue
        w = _windows(p, svc)
        assert w[("variant=b", "2026-01-30")]["status"] == "degraded"
        assert w[("", "2026-01-27")]["result"]["labels"] > 300
        [alert] = [a for a in svc.alerts("alice", "shop/churn-quality")
                   if a["slice"] == "variant=b"]  # fmt: skip
        assert alert["last_window"] == "2026-01-30" and alert["windows"] == 10  # one episode
        assert svc.run("alice", "shop/churn-quality", now=NOW)["computed"] == {}
        shown = svc.show("alice", "shop/churn-quality")
        point = shown["series"]["model:accuracy"][-1]
        assert point["baseline"] == 0.85 and point["labels"] > 300


def test_the_baseline_comes_from_the_metric_recorded_in_tracking(studio, served):
    from mlstudio.integrations.tracking.service import TrackingService

    with studio.opened() as p:
        tracking = TrackingService(p.store, p.cas)
        exp = tracking.ensure_experiment("alice", "churn-training")
        run = tracking.create_run("alice", exp["id"], name="fit")
        tracking.log_batch("alice", run["id"], metrics=[("accuracy", 0.97, 0, None),
                                                        ("val_auc", 0.9, 0, None)])  # fmt: skip
        svc = _service(p)
        with pytest.raises(InvalidInputError, match="has no metric 'auc'"):
            _add(svc, baseline=f"tracking:{run['id']}:auc")
        with pytest.raises(NotFoundError, match="no tracked run"):
            _add(svc, baseline="tracking:nope")
        added = _add(svc, baseline=f"tracking:{run['id']}")
        truth = added["spec"]["ground_truth"]
        assert truth["baseline"] == 0.97
        assert truth["baseline_source"] == f"tracking:{run['id']}:accuracy"
        svc.run("alice", "shop/churn-quality", now=NOW)
        w = _windows(p, svc)
        # against 0.97 every labelled window of 0.85 is degraded, variant a too
        assert w[("variant=a", "2026-01-05")]["status"] == "degraded"


def test_bad_ground_truth_options_are_refused_and_nothing_is_created(studio, served):
    with studio.opened() as p:
        svc = _service(p)
        cases: list[tuple[dict[str, Any], type[Exception], str]] = [
            ({"metric": "f2"}, InvalidInputError, "unknown metric 'f2'"),
            ({"metric": "score"}, InvalidInputError, "does not compare predictions"),
            ({"baseline": None}, InvalidInputError, "needs a baseline"),
            ({"baseline": "high"}, InvalidInputError, "invalid --baseline 'high'"),
            ({"tolerance": -1}, InvalidInputError, "invalid --tolerance"),
            ({"min_labels": 0}, InvalidInputError, "invalid --min-labels"),
            ({"label_column": "y"}, InvalidInputError, "have no column 'y'"),
            ({"prediction_column": "score"}, InvalidInputError, "has no column 'score'"),
            ({"labels": "shop/nope"}, NotFoundError, "shop/nope"),
            ({"labels": "not a name"}, Exception, "not a name"),
        ]
        for truth, error, message in cases:
            with pytest.raises(error, match=message):
                _add(svc, **truth)
        assert svc.list("alice") == []
    bad = studio.fails("monitor", "add", "shop/q", "--source", "shop/churn-predictions",
                       "--time-column", "at", "--ground-truth", "shop/labels",
                       "--baseline", "x", code=2)  # fmt: skip
    assert "invalid --baseline 'x'" in bad.stderr
    studio.fails("monitor", "add", "shop/q", "--source", "shop/churn-predictions",
                 "--time-column", "at", "--metric", "n=count", "--baseline", "0.9")  # fmt: skip
    assert studio.ok("monitor", "list") == []


def test_the_cli_adds_a_ground_truth_monitor_and_lists_its_alerts(studio, served):
    added = studio.ok("monitor", "add", "shop/churn-quality", "--source", "shop/churn-predictions",
                      "--time-column", "at", "--dimension", "variant", "--ground-truth",
                      "shop/labels", "--model-metric", "accuracy", "--baseline", "0.85",
                      "--tolerance", "0.08", "--min-labels", "50")  # fmt: skip
    assert added["checks"] == ["data", "model:accuracy"]
    studio.ok("monitor", "run", "shop/churn-quality", "--now", NOW)
    alerts = studio.ok("monitor", "alerts", "shop/churn-quality")
    model = [a for a in alerts if a["check"] == "model:accuracy"]
    assert {a["slice"] for a in model} == {"variant=b", ""}
    human = studio.cli("monitor", "show", "shop/churn-quality")
    assert human.code == 0 and "model:accuracy" in human.stdout
