"""Monitoring on SQLite and Postgres: drift and metric-anomaly alerts through the webhook
outbox, idempotent windows, future-only feedback, governed sources and data alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlstudio.errors import InvalidInputError, PermissionDeniedError

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = "2026-01-31T06:00:00Z"  # 30 complete days: Jan 1 .. Jan 30
CLASSIFY = [
    "--classify", "x1=internal", "--classify", "plan=internal", "--classify", "ts=internal",
    "--classify", "amount=confidential", "--classify", "account=internal",
]  # fmt: skip


def _write(path: Path, columns: dict[str, Any]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


def _reference(seed: int = 0, n: int = 3000) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "ts": [DAY0 - timedelta(days=60)] * n,
        "x1": rng.normal(size=n),
        "plan": rng.choice(["free", "pro"], size=n).tolist(),
        "amount": rng.gamma(2.0, 5.0, size=n),
        "account": [f"a{i % 50}" for i in range(n)],
    }


def _predictions(seed: int = 1, days: int = 30, per_day: int = 400) -> dict[str, Any]:
    """x1 drifts (+0.5 sd) for plan=pro from Jan 26; revenue spikes on Jan 20."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[Any]] = {"ts": [], "x1": [], "plan": [], "amount": [], "account": []}
    for d in range(days):
        plan = rng.choice(["free", "pro"], size=per_day)
        x1 = rng.normal(size=per_day) + np.where((plan == "pro") & (d >= 25), 0.5, 0.0)
        amount = rng.gamma(2.0, 5.0, size=per_day) * (3.0 if d == 19 else 1.0)
        day = DAY0 + timedelta(days=d)
        out["ts"] += [day + timedelta(seconds=int(s)) for s in rng.integers(0, 86400, per_day)]
        out["x1"] += x1.tolist()
        out["plan"] += plan.tolist()
        out["amount"] += amount.tolist()
        out["account"] += [f"a{i}" for i in rng.integers(0, 50, per_day)]
    return out


@pytest.fixture
def shop(studio, tmp_path: Path) -> None:
    studio.ok("namespace", "create", "shop")
    for name, cols in (("train", _reference()), ("preds", _predictions())):
        path = _write(tmp_path / f"{name}.parquet", cols)
        studio.ok("data", "import", path, "--name", f"shop/{name}", *CLASSIFY)


def _service(p: Any) -> Any:
    from mlstudio.integrations.monitoring.service import MonitorService

    return MonitorService(p.store, p.cas)


def _add(svc: Any, actor: str = "alice", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "source": "shop/preds",
        "time_column": "ts",
        "dimensions": ["plan"],
        "features": ["x1"],
        "reference": "shop/train",
        "metrics": ["revenue=sum:amount"],
        "persistence": "2/3",
    }
    spec.update(extra)
    return svc.add(actor, "shop/churn", **spec)


def test_drift_and_anomaly_alert_once_through_the_outbox_and_rerun_is_idempotent(studio, shop):
    hook = studio.ok("webhook", "add", "http://127.0.0.1:9/hook", "-e", "monitor.alert",
                     "-e", "monitor.resolved")  # fmt: skip
    with studio.opened() as p:
        svc = _service(p)
        mon = _add(svc)
        assert mon["checks"] == ["data", "drift", "anomaly:revenue"]
        first = svc.run("alice", "shop/churn", now=NOW)
        # 30 days x (all, plan=free, plan=pro) for drift, 30 x (total, 2 plans) for revenue
        assert first["computed"] == {"data": 1, "drift": 90, "anomaly:revenue": 90}
        alerts = svc.alerts("alice", "shop/churn")
        drift_alerts = [a for a in alerts if a["check"] == "drift"]
        # the shift is in plan=pro only (and visible in all rows); persistence 2 of 3: Jan 27
        assert {a["slice"] for a in drift_alerts} <= {"plan=pro", ""}
        pro = next(a for a in drift_alerts if a["slice"] == "plan=pro")
        assert pro["first_window"] == "2026-01-27" and pro["state"] == "open"
        assert pro["windows"] == 4  # one alert for the episode, not one per window
        test = next(t for t in pro["evidence"]["tests"] if t["feature"] == "x1")
        assert test["statistic"] > test["threshold"] and test["n"] > 100
        revenue = [a for a in alerts if a["check"] == "anomaly:revenue" and a["slice"] == ""]
        assert [a["first_window"] for a in revenue] == ["2026-01-20"]
        assert revenue[0]["evidence"]["statistic"] > revenue[0]["evidence"]["threshold"]
        assert not [a for a in alerts if a["check"] == "drift" and a["first_window"] < "2026-01-26"]

        again = svc.run("alice", "shop/churn", now=NOW)  # a re-run computes nothing twice
        assert again["computed"] == {} and again["opened"] == []
        later = svc.run("alice", "shop/churn", now="2026-02-01T06:00:00Z")
        # Jan 31 has no rows yet: not stale yet (freshness 2), and its windows wait for data
        assert later["computed"] == {"data": 1}
        assert later["waiting"] == {"from": "2026-01-31", "reason": "no rows yet"}
        deliveries = p.webhooks.deliveries("alice", hook["id"])
        events = sorted(d["event"] if isinstance(d, dict) else d.event for d in deliveries)
        assert events.count("monitor.alert") == len(first["opened"])
        assert events.count("monitor.resolved") == len(first["resolved"]) + len(later["resolved"])
    audit = studio.ok("audit", "--action", "monitor")
    assert {"monitor.add", "monitor.run"} <= {e["action"] for e in audit}


def test_a_window_of_the_source_itself_is_a_drift_reference(studio, shop):
    reference = "window:2026-01-01..2026-01-15"
    with studio.opened() as p:
        svc = _service(p)
        _add(svc, reference=reference, metrics=[])
        early = svc.run("alice", "shop/churn", now="2026-01-10T00:00:00Z")
        # the reference window is not over yet: drift waits, nothing is judged against it
        assert "drift" not in early["computed"]
        assert early["reference"] == {
            "until": "2026-01-15",
            "reason": "the reference window is not complete",
        }
        first = svc.run("alice", "shop/churn", now=NOW)
        # Jan 15..30 (16 days) x (all, free, pro); the windows of the reference are not judged
        assert first["computed"]["drift"] == 16 * 3
        drift = [a for a in svc.alerts("alice", "shop/churn") if a["check"] == "drift"]
        pro = next(a for a in drift if a["slice"] == "plan=pro")
        assert pro["first_window"] == "2026-01-27"  # the shift of Jan 26, persistence 2 of 3
        assert not [a for a in drift if a["first_window"] < "2026-01-26"]
        test = next(t for t in pro["evidence"]["tests"] if t["feature"] == "x1")
        assert test["statistic"] > test["threshold"]
        windows = {w["window"] for w in svc.show("alice", "shop/churn")["series"]["drift"]}
        assert min(windows) == "2026-01-15"
        for bad, message in (
            ("window:2026-01-15..2026-01-01", "ends before it starts"),
            ("window:2026-01-01", "invalid reference window"),
            ("window:soon..later", "not a date"),
        ):
            with pytest.raises(InvalidInputError, match=message):
                svc.add("alice", "shop/other", source="shop/preds", time_column="ts",
                        features=["x1"], reference=bad)  # fmt: skip
        assert [m["name"] for m in svc.list("alice")] == ["shop/churn"]


def test_late_data_is_judged_when_it_arrives_not_as_no_data(studio, shop, tmp_path):
    """The source stops at Jan 25 (a load is late): Jan 26..30 wait behind a stale data alert,
    and when the late rows arrive they are judged on them (the drift of Jan 26 is caught)."""
    late = _write(tmp_path / "preds25.parquet", _predictions(days=25))
    studio.ok("data", "import", late, "--name", "shop/preds", *CLASSIFY)
    with studio.opened() as p:
        svc = _service(p)
        _add(svc)
        first = svc.run("alice", "shop/churn", now=NOW)
        assert first["computed"] == {"data": 1, "drift": 75, "anomaly:revenue": 75}
        assert first["waiting"] == {"from": "2026-01-26", "reason": "no rows yet"}
        [data] = [a for a in svc.alerts("alice", "shop/churn") if a["check"] == "data"]
        assert data["kind"] == "data" and data["state"] == "open"
        assert not [a for a in svc.alerts("alice", "shop/churn") if a["check"] == "drift"]
        full = _write(tmp_path / "preds30.parquet", _predictions())
        studio.ok("data", "import", full, "--name", "shop/preds", *CLASSIFY)
        second = svc.run("alice", "shop/churn", now=NOW)
        assert second["computed"] == {"data": 1, "drift": 15, "anomaly:revenue": 15}
        assert "waiting" not in second
        drift = [a for a in svc.alerts("alice", "shop/churn") if a["check"] == "drift"]
        pro = next(a for a in drift if a["slice"] == "plan=pro")
        assert pro["first_window"] == "2026-01-27"  # as if the data had never been late
        data_alerts = [a for a in svc.alerts("alice", "shop/churn") if a["check"] == "data"]
        assert [a["state"] for a in data_alerts] == ["resolved"]


def test_a_downstream_monitor_waits_for_its_upstream_data(studio, shop, tmp_path):
    """shop/features is built from shop/raw; its monitor waits while shop/raw is late, then
    judges every window it held back once the upstream data check is ok again."""
    raw = _write(tmp_path / "raw25.parquet", _predictions(days=25))
    studio.ok("data", "import", raw, "--name", "shop/raw", *CLASSIFY)
    with studio.opened() as p:
        svc = _service(p)
        svc.add("alice", "shop/raw-load", source="shop/raw", time_column="ts",
                metrics=["rows=count"], freshness=1)  # fmt: skip
        _add(svc, after=["shop/raw-load"])  # over shop/preds, complete up to Jan 30
        before = svc.run("alice", "shop/churn", now=NOW)
        assert before["computed"] == {"data": 1}
        assert before["waiting"] == {
            "upstream": "shop/raw-load",
            "reason": "shop/raw-load has not checked its data for 2026-01-30",
        }
        svc.run("alice", "shop/raw-load", now=NOW)  # raw is stale: Jan 25 is its last day
        stale = svc.run("alice", "shop/churn", now=NOW)
        assert stale["computed"] == {}
        assert stale["waiting"]["reason"] == "shop/raw-load's data is stale (2026-01-30)"
        assert not [a for a in svc.alerts("alice", "shop/churn") if a["check"] != "data"]
        full = _write(tmp_path / "raw30.parquet", _predictions())
        studio.ok("data", "import", full, "--name", "shop/raw", *CLASSIFY)
        svc.run("alice", "shop/raw-load", now=NOW)
        after = svc.run("alice", "shop/churn", now=NOW)
        assert after["computed"] == {"drift": 90, "anomaly:revenue": 90}
        assert "waiting" not in after
        assert svc.show("alice", "shop/churn")["spec"]["after"] == ["shop/raw-load"]
        with pytest.raises(InvalidInputError, match="wait for itself"):
            svc.add("alice", "shop/self", source="shop/preds", time_column="ts",
                    metrics=["rows=count"], after=["shop/self"])  # fmt: skip
    missing = studio.fails("monitor", "add", "shop/m2", "--source", "shop/preds", "--time-column",
                           "ts", "--metric", "rows=count", "--after", "shop/nope")  # fmt: skip
    assert "shop/nope" in missing.stderr
    assert [m["name"] for m in studio.ok("monitor", "list")] == ["shop/churn", "shop/raw-load"]


def test_alerts_of_one_check_opening_together_are_one_incident(studio, shop):
    hook = studio.ok("webhook", "add", "http://127.0.0.1:9/hook", "-e", "monitor.alert")
    with studio.opened() as p:
        svc = _service(p)
        _add(svc, dimensions=["plan", "account"], features=["x1"], metrics=[], max_slices=60)
        svc.run("alice", "shop/churn", now=NOW)
        alerts = svc.alerts("alice", "shop/churn")
        deliveries = p.webhooks.deliveries("alice", hook["id"])
    from mlstudio.integrations.monitoring.views import group_alerts

    groups = group_alerts(alerts)
    assert sum(len(g["alerts"]) for g in groups) == len(alerts)
    for g in groups:  # every alert of a group: the same check, opened in the same window
        members = [a for a in alerts if a["id"] in g["alerts"]]
        assert {(a["check"], a["first_window"]) for a in members} == {
            (g["check"], g["first_window"])
        }
        assert g["slices"] == [a["slice"] or "all" for a in members]
    assert any(len(g["alerts"]) > 1 for g in groups)  # the pro shift shows in several slices
    payloads = [d["payload"]["data"] for d in deliveries]
    assert {x["group"] for x in payloads} == {g["group"] for g in groups if g["check"] != "data"}
    shown = studio.ok("monitor", "alerts", "shop/churn", "--grouped")
    assert shown == json_roundtrip(groups)
    text = studio.cli("monitor", "alerts", "shop/churn", "--grouped")
    assert text.code == 0 and "plan=pro" in text.stdout


def json_roundtrip(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))


def test_feedback_changes_future_windows_only_and_counts_in_quality(studio, shop):
    with studio.opened() as p:
        svc = _service(p)
        _add(svc, features=[], reference=None, persistence="1/1")
        svc.run("alice", "shop/churn", now="2026-01-21T00:00:00Z")  # through the spike
        alerts = svc.alerts("alice", "shop/churn")
        [spike] = [a for a in alerts if a["slice"] == "" and a["check"] == "anomaly:revenue"]
        before = svc.show("alice", "shop/churn")["series"]["anomaly:revenue"]
        fb = svc.feedback("alice", spike["id"], "false_alarm", comment="a sale we forgot")
        assert fb["applies_after"] == "2026-01-20" and fb["metric"] == "revenue"
        svc.run("alice", "shop/churn", now=NOW)
        shown = svc.show("alice", "shop/churn")
        after = shown["series"]["anomaly:revenue"]
        assert after[: len(before)] == before  # computed windows were not recalculated
        assert shown["quality"]["anomaly:revenue"]["false_positives"] == 1
        assert shown["quality"]["anomaly:revenue"]["precision"] == 0.0
        with p.store.read() as uow:
            row = uow.monitoring.get("shop/churn")
            rows = uow.monitoring.windows(row["id"], check="anomaly:revenue", slice="")
        later = [w for w in rows if w["window_key"] > "2026-01-20"]
        assert later and all(w["result"]["affected_by_feedback"] for w in later)
        assert not any(
            w["result"]["affected_by_feedback"] for w in rows if w["window_key"] <= "2026-01-20"
        )
        with pytest.raises(InvalidInputError, match="unknown feedback kind"):
            svc.feedback("alice", spike["id"], "wrong")
        with pytest.raises(InvalidInputError, match="needs a range"):
            svc.feedback("alice", "shop/churn", "event")
        # backfill recomputes history; feedback applies as it did (by period)
        redone = svc.backfill("alice", "shop/churn", now=NOW)
        assert redone["windows_removed"] == len(rows) + 2 * 30 + 2  # + the plan series + data
        rows2 = svc.show("alice", "shop/churn")["series"]["anomaly:revenue"]
        assert rows2 == after
    events = [e["action"] for e in studio.ok("audit", "--action", "monitor.feedback")]
    assert events == ["monitor.feedback"]


def test_tuning_replays_history_per_threshold_and_applies_only_when_asked(studio, shop):
    with studio.opened() as p:
        svc = _service(p)
        _add(svc, features=[], reference=None)
        svc.run("alice", "shop/churn", now="2026-01-21T00:00:00Z")
        [spike] = [a for a in svc.alerts("alice", "shop/churn")
                   if a["slice"] == "" and a["check"] == "anomaly:revenue"]  # fmt: skip
        svc.feedback("alice", spike["id"], "confirmed")
        svc.run("alice", "shop/churn", now=NOW)
        report = svc.tune("alice", "shop/churn")
        t = report["checks"]["anomaly:revenue"]
        at_current = next(r for r in t["candidates"] if r["threshold"] == t["current_threshold"])
        assert at_current["alerts"] == t["current_alerts"]  # the replay reproduces history
        assert at_current["true_positives"] >= 1 and at_current["recall"] == 1.0
        counts = [r["alerts"] for r in t["candidates"]]
        assert counts == sorted(counts, reverse=True)  # a higher threshold never alerts more
        assert report["applied"] is None and report["revision"] == 1
        with pytest.raises(InvalidInputError, match="needs a threshold"):
            svc.tune("alice", "shop/churn", apply=True)
        applied = svc.tune("alice", "shop/churn", threshold=6.0, apply=True)
        assert (applied["applied"], applied["revision"]) == (6.0, 2)
        shown = svc.show("alice", "shop/churn")
        assert shown["spec"]["detector"]["threshold"] == 6.0 and shown["revision"] == 2
    [event] = studio.ok("audit", "--action", "monitor.tune")
    assert (event["details"]["before"], event["details"]["after"]) == (4.0, 6.0)


def test_a_monitor_over_data_its_domain_may_not_read_is_refused_at_creation(studio, shop):
    with studio.opened() as p:
        svc = _service(p)
        with pytest.raises(PermissionDeniedError, match="adhoc"):
            _add(svc, domain="adhoc")
        assert svc.list("alice") == []
    denied = [e for e in studio.ok("audit", "--action", "data.read") if e["decision"] == "deny"]
    assert denied and denied[0]["details"]["domain"] == "adhoc"


def test_zero_rows_and_future_timestamps_are_data_alerts(studio, tmp_path):
    studio.ok("namespace", "create", "shop")
    empty = _predictions(days=0)
    path = _write(tmp_path / "empty.parquet", {
        "ts": np.array([], dtype="datetime64[us]"), "x1": np.array([], dtype=float),
        "plan": np.array([], dtype=str), "amount": np.array([], dtype=float),
        "account": np.array([], dtype=str)} if not empty["ts"] else empty)  # fmt: skip
    studio.ok("data", "import", path, "--name", "shop/preds", *CLASSIFY)
    with studio.opened() as p:
        svc = _service(p)
        _add(svc, features=[], reference=None)
        out = svc.run("alice", "shop/churn", now=NOW)
        assert out["statuses"] == {"empty": 1}
        [alert] = svc.alerts("alice", "shop/churn")
        assert alert["kind"] == "data" and "no rows" in alert["evidence"]["problems"][0]
        skewed = _predictions(days=3)
        skewed["ts"][0] = datetime(2027, 1, 1, tzinfo=UTC)
        studio.ok("data", "import", _write(tmp_path / "p.parquet", skewed), "--name",
                  "shop/preds", *CLASSIFY)  # fmt: skip
        out = svc.run("alice", "shop/churn", now="2026-01-04T01:00:00Z")
        assert out["statuses"]["skew"] == 1
        [alert] = svc.alerts("alice", "shop/churn", state="open")
        assert "1 rows are stamped after now" in alert["evidence"]["problems"]


def test_a_slice_column_with_10000_values_is_capped_and_reported(studio, tmp_path):
    studio.ok("namespace", "create", "shop")
    cols = _predictions(days=3, per_day=4000)
    cols["account"] = [f"acct-{i}" for i in range(len(cols["ts"]))]  # 12,000 distinct
    studio.ok("data", "import", _write(tmp_path / "p.parquet", cols), "--name", "shop/preds",
              *CLASSIFY)  # fmt: skip
    studio.ok("data", "import", _write(tmp_path / "r.parquet", _reference()), "--name",
              "shop/train", *CLASSIFY)  # fmt: skip
    with studio.opened() as p:
        svc = _service(p)
        _add(svc, dimensions=["account"], max_slices=20)
        out = svc.run("alice", "shop/churn", now="2026-01-04T00:00:00Z")
        assert out["capped"]["account"] == 12_000 - 20
        assert out["capped"]["anomaly:revenue"] == 12_000 - 20
        assert out["computed"]["drift"] == 3 * 21


def test_bad_monitor_definitions_are_refused_and_nothing_is_stored(studio, shop):
    with studio.opened() as p:
        svc = _service(p)
        cases = [
            ({"features": ["nope"]}, "no column 'nope'"),
            ({"reference": None}, "needs a reference"),
            ({"features": [], "metrics": []}, "at least one check"),
            ({"metrics": ["revenue=median:amount"]}, "invalid metric"),
            ({"persistence": "3/2"}, "invalid persistence"),
            ({"period": "month"}, "unknown period"),
            ({"schedule": "every day"}, "cron"),
            ({"flag": "serve.shop.kill"}, "invalid --flag"),
        ]
        for extra, message in cases:
            with pytest.raises(InvalidInputError, match=message):
                _add(svc, **extra)
        assert svc.list("alice") == []
        _add(svc)
        with pytest.raises(InvalidInputError, match="already exists"):
            _add(svc)
    studio.ok("user", "add", "bob")
    with studio.opened("bob") as p, pytest.raises(PermissionDeniedError):
        _service(p).run("bob", "shop/churn", now=NOW)


def test_the_cli_adds_runs_lists_alerts_feedback_shows_and_removes(studio, shop, tmp_path):
    made = studio.ok("monitor", "add", "shop/churn", "--source", "shop/preds", "--time-column",
                     "ts", "--dimension", "plan", "--metric", "revenue=sum:amount")  # fmt: skip
    assert made["checks"] == ["data", "anomaly:revenue"]
    ran = studio.ok("monitor", "run", "shop/churn", "--now", NOW)
    assert ran["computed"]["anomaly:revenue"] == 90
    [alert] = [a for a in studio.ok("monitor", "alerts", "shop/churn")
               if a["check"] == "anomaly:revenue" and a["slice"] == ""]  # fmt: skip
    fb = studio.ok("monitor", "feedback", alert["id"], "expected", "-m", "planned sale")
    assert fb["kind"] == "expected" and fb["comment"] == "planned sale"
    event = studio.ok("monitor", "feedback", "shop/churn", "event", "--start", "2026-02-03",
                      "--end", "2026-02-05", "--dim", "plan=pro")  # fmt: skip
    assert event["dims"] == {"plan": "pro"} and event["applies_after"] == "2026-01-30"
    png = tmp_path / "chart.png"
    shown = studio.ok("monitor", "show", "shop/churn", "--png", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shown["quality"]["anomaly:revenue"]["precision"] == 1.0
    text = studio.cli("monitor", "show", "shop/churn")
    assert text.code == 0 and "anomaly:revenue" in text.stdout and alert["id"] in text.stdout
    assert [m["name"] for m in studio.ok("monitor", "list")] == ["shop/churn"]
    bad = studio.fails("monitor", "feedback", alert["id"], "maybe", code=2)
    assert "unknown feedback kind" in bad.stderr
    bad = studio.fails("monitor", "add", "shop/x", "--source", "shop/preds", "--time-column",
                       "ts", "--metric", "revenue", code=2)  # fmt: skip
    assert "NAME=AGG:COLUMN" in bad.stderr
    assert studio.ok("monitor", "remove", "shop/churn")["removed"] is True
    assert studio.ok("monitor", "list") == []


def test_two_concurrent_runs_compute_each_window_once(studio, shop):
    import threading

    with studio.opened() as p:
        _add(_service(p), features=[], reference=None)
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            with studio.opened() as p:
                start.wait(timeout=30)
                results.append(_service(p).run("alice", "shop/churn", now=NOW))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    computed = [r["computed"].get("anomaly:revenue", 0) for r in results]
    assert sorted(computed) == [0, 90]  # one of them computed everything, the other nothing
    with studio.opened() as p, p.store.read() as uow:
        row = uow.monitoring.get("shop/churn")
        windows = uow.monitoring.windows(row["id"], check="anomaly:revenue")
        alerts = uow.monitoring.alerts(row["id"])
    assert len(windows) == 90 == len({(w["window_key"], w["slice"]) for w in windows})
    keys = [(a["check_name"], a["slice"], a["first_window"]) for a in alerts]
    assert len(keys) == len(set(keys))  # no alert opened twice


def test_a_model_alert_flips_the_configured_serving_flag(studio, shop):
    from mlstudio.errors import NotFoundError

    studio.ok("flag", "set", "serve.shop.kill", "--value", "false", "--namespace", "shop")
    with studio.opened() as p:
        svc = _service(p)
        with pytest.raises(NotFoundError, match=r"serve\.shop\.nope"):
            _add(svc, features=[], reference=None, flag="serve.shop.nope=true")
        _add(svc, features=[], reference=None, flag="serve.shop.kill=true")
        quiet = svc.run("alice", "shop/churn", now="2026-01-15T00:00:00Z")  # before the spike
        assert "flags" not in quiet
        assert studio.ok("flag", "eval", "serve.shop.kill", "--default", "false")["value"] is False
        out = svc.run("alice", "shop/churn", now="2026-01-21T00:00:00Z")
        assert out["flags"] and out["flags"][0]["key"] == "serve.shop.kill"
    assert studio.ok("flag", "eval", "serve.shop.kill", "--default", "false")["value"] is True
    [flipped] = [e for e in studio.ok("audit", "--action", "flag.set") if "by" in e["details"]]
    assert flipped["details"]["by"]["monitor"] == "shop/churn"
    assert flipped["details"]["by"]["alert"] == out["flags"][0]["alert"]


def test_a_scheduled_monitor_runs_when_its_cron_fires_and_only_then(studio, shop, tmp_path):
    """The server's monitor loop (integrations/monitoring/scheduler.py) runs a monitor as its
    creator at each fire time after the loop started, once; an unscheduled monitor never."""
    from mlstudio.integrations.monitoring.scheduler import MonitorScheduler

    clock = {"now": datetime(2026, 1, 31, 5, 30, tzinfo=UTC)}
    with studio.opened() as p:
        svc = _service(p)
        _add(svc, schedule="0 6 * * *")  # shop/churn, daily at 06:00 UTC
        svc.add("alice", "shop/manual", source="shop/preds", time_column="ts",
                metrics=["revenue=sum:amount"])  # fmt: skip
        scheduler = MonitorScheduler(p, clock=lambda: clock["now"])
        assert scheduler.tick() == []  # 05:30: not yet
        clock["now"] = datetime(2026, 1, 31, 5, 59, 59, tzinfo=UTC)
        assert scheduler.tick() == []
        clock["now"] = datetime(2026, 1, 31, 6, 0, 4, tzinfo=UTC)
        [fired] = scheduler.tick()
        assert fired["monitor"] == "shop/churn" and fired["fired_at"].startswith("2026-01-31T06:00")
        assert fired["computed"]["drift"] == 90  # Jan 1 .. Jan 30 x (all, free, pro)
        clock["now"] = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
        assert scheduler.tick() == []  # the next fire is tomorrow at 06:00
        # the daily load brings Jan 31 (the same stream, one more day) before the next fire
        path = _write(tmp_path / "preds31.parquet", _predictions(days=31))
        studio.ok("data", "import", path, "--name", "shop/preds", *CLASSIFY)
        clock["now"] = datetime(2026, 2, 1, 6, 0, 1, tzinfo=UTC)
        [again] = scheduler.tick()
        assert again["monitor"] == "shop/churn"
        # only Jan 31 is new (x 3 slices): the 90 earlier windows are not computed again
        assert again["computed"] == {"data": 1, "drift": 3, "anomaly:revenue": 3}
    audited = studio.ok("audit", "--action", "monitor.run")
    assert sum("shop/churn" in e["resource"] for e in audited) == 2
    assert not [e for e in audited if "shop/manual" in e["resource"]]  # never run
