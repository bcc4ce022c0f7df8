"""Retraining triggers on SQLite and Postgres: a model alert starts the configured workflow run
as the monitor's creator, guarded by a cooldown, a maximum per period and the namespace's run
quota; every outcome (the run, or why not) is recorded on the alert, never raised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlstudio.errors import InvalidInputError, NotFoundError, ParameterError

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = "2026-01-31T06:00:00Z"  # 30 complete days
SPIKES = (19, 24)  # revenue x3 on Jan 20 and Jan 25: two separate alerts
WORKFLOW = "shop/models/retrain"
TASKS = """from mlstudio import task, workflow


@task
def fit(rounds: int) -> int:
    return rounds * 10


@workflow
def retrain(rounds: int = 3) -> int:
    return fit(rounds)
"""


def _sales(days: int = 30, per_day: int = 300, spikes: tuple[int, ...] = SPIKES) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    out: dict[str, list[Any]] = {"ts": [], "amount": []}
    for d in range(days):
        day = DAY0 + timedelta(days=d)
        out["ts"] += [day + timedelta(seconds=int(s)) for s in rng.integers(0, 86400, per_day)]
        out["amount"] += (rng.gamma(2.0, 5.0, per_day) * (3.0 if d in spikes else 1.0)).tolist()
    return out


@pytest.fixture
def shop(studio, tmp_path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    studio.ok("namespace", "create", "shop")
    path = tmp_path / "sales.parquet"
    pq.write_table(pa.table(_sales()), path)
    studio.ok("data", "import", path, "--name", "shop/sales", "--classify", "ts=internal",
              "--classify", "amount=internal")  # fmt: skip
    module = tmp_path / "models"
    module.mkdir()
    (module / "module.toml").write_text('[module]\nname = "shop/models"\ndescription = "m"\n')
    (module / "tasks.py").write_text(TASKS)
    pushed = studio.ok("module", "push", module)
    studio.ok("module", "promote", "shop/models", str(pushed["version"]))  # production: promoted
    return studio


def _service(p: Any) -> Any:
    from mlstudio.integrations.monitoring.service import MonitorService

    return MonitorService(p.store, p.cas, p.runs)


def _add(svc: Any, actor: str = "alice", **retrain: Any) -> dict[str, Any]:
    return svc.add(actor, "shop/revenue", source="shop/sales", time_column="ts",
                   metrics=["revenue=sum:amount"],
                   retrain={"workflow": WORKFLOW, "params": {"rounds": "5"}, **retrain})  # fmt: skip


def _alerts(svc: Any) -> list[dict[str, Any]]:
    return sorted(svc.alerts("alice", "shop/revenue"), key=lambda a: a["first_window"])


def test_an_alert_starts_the_run_and_a_second_alert_in_the_cooldown_says_why(shop):
    studio = shop
    with studio.opened() as p:
        svc = _service(p)
        _add(svc, cooldown="6h", max_per="3/7d")
        out = svc.run("alice", "shop/revenue", now=NOW)
        first, second = _alerts(svc)
        assert (first["first_window"], second["first_window"]) == ("2026-01-20", "2026-01-25")
        assert sorted(t["alert"] for t in out["retrain"]) == sorted([first["id"], second["id"]])
        started = [a for a in (first, second) if a["retrain"].get("run")]
        skipped = [a for a in (first, second) if a["retrain"].get("skipped")]
        assert len(started) == 1 and len(skipped) == 1
        run_id = started[0]["retrain"]["run"]
        assert "cooldown 6h" in skipped[0]["retrain"]["skipped"]
        assert "the next may start after 2026-01-31T12:00:00Z" in skipped[0]["retrain"]["skipped"]
        p.runs.execute(run_id, None)  # a driver (mlstudio server) would take it: trigger monitor
    shown = studio.ok("runs", "show", run_id)
    assert shown["trigger"] == "monitor" and shown["created_by"] == "alice"
    assert shown["triggered_by"] == {
        "monitor": "shop/revenue", "alert": started[0]["id"], "at": "2026-01-31T06:00:00Z"
    }  # fmt: skip
    assert shown["state"] == "succeeded" and shown["output_value"] == 50  # rounds=5 bound
    assert shown["domain"] == "production"
    human = studio.cli("runs", "show", run_id)
    assert f"triggered by monitor shop/revenue (alert {started[0]['id']})" in human.stdout
    audit = studio.ok("audit", "--action", "monitor.retrain")
    assert sorted(bool(e["details"].get("run")) for e in audit) == [False, True]
    # a later alert after the cooldown starts a new run; the open alert keeps its outcome
    with studio.opened() as p:
        svc = _service(p)
        again = svc.run("alice", "shop/revenue", now="2026-02-01T06:00:00Z")
        assert "retrain" not in again  # no new alert, no new run
        kept = {a["id"]: a["retrain"] for a in _alerts(svc)}
        assert kept[started[0]["id"]]["run"] == run_id


def test_a_backfill_does_not_forget_the_cooldown(shop, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    with shop.opened() as p:
        svc = _service(p)
        _add(svc, cooldown="1d", max_per="5/7d")
        first = svc.run("alice", "shop/revenue", now=NOW)
        assert len([t for t in first["retrain"] if t.get("run")]) == 1
        svc.backfill("alice", "shop/revenue", now=NOW)  # alerts recomputed, no trigger fires
    path = tmp_path / "sales31.parquet"
    pq.write_table(pa.table(_sales(days=31, spikes=(*SPIKES, 30))), path)  # a spike on Jan 31
    shop.ok("data", "import", path, "--name", "shop/sales", "--classify", "ts=internal",
            "--classify", "amount=internal")  # fmt: skip
    with shop.opened() as p:
        svc = _service(p)
        later = svc.run("alice", "shop/revenue", now="2026-02-01T05:00:00Z")
        [outcome] = later["retrain"]
        assert outcome["skipped"].startswith("cooldown 1d: the last retrain started at "
                                             "2026-01-31T06:00:00Z")  # fmt: skip
        again = svc.run("alice", "shop/revenue", now="2026-02-02T07:00:00Z")
        assert "retrain" not in again  # the Jan 31 alert stays one alert: no new trigger


def test_the_maximum_per_period_stops_triggers_without_a_cooldown(shop):
    with shop.opened() as p:
        svc = _service(p)
        _add(svc, cooldown="0", max_per="1/7d")
        out = svc.run("alice", "shop/revenue", now=NOW)
        outcomes = sorted(out["retrain"], key=lambda t: "skipped" in t)
        assert "run" in outcomes[0] and "skipped" in outcomes[1]
        assert outcomes[1]["skipped"].startswith("max 1/7d reached: 1 retrains since")
        runs = [r for r in p.runs.list("alice", limit=50) if r["trigger"] == "monitor"]
        assert [r["id"] for r in runs] == [outcomes[0]["run"]]


def test_the_namespace_run_quota_refuses_the_trigger_and_the_alert_says_so(shop):
    shop.ok("namespace", "quota", "shop", "--runs", "0")
    with shop.opened() as p:
        svc = _service(p)
        _add(svc, cooldown="0", max_per="5/1d")
        out = svc.run("alice", "shop/revenue", now=NOW)
        assert len(out["retrain"]) == 2 and out["opened"]
        for a in _alerts(svc):
            assert a["retrain"]["skipped"].startswith("namespace quota 0/0")
        assert not [r for r in p.runs.list("alice", limit=50) if r["trigger"] == "monitor"]


def test_a_creator_who_may_no_longer_run_the_workflow_is_skipped_with_the_reason(shop):
    studio = shop
    studio.ok("user", "add", "bob")
    studio.ok("namespace", "grant", "shop", "bob", "maintainer")
    studio.ok("user", "grant", "bob", "viewer", "--domain", "production")
    with studio.opened("bob") as p, pytest.raises(Exception, match="runner"):
        _add(_service(p), actor="bob")  # may not run there: refused at creation
    studio.ok("user", "grant", "bob", "runner", "--domain", "production")
    with studio.opened("bob") as p:
        _add(_service(p), actor="bob")
    studio.ok("user", "revoke", "bob", "runner", "--domain", "production")
    with studio.opened() as p:  # alice evaluates it; the trigger runs as bob, its creator
        svc = _service(p)
        out = svc.run("alice", "shop/revenue", now=NOW)
        assert out["opened"] and len(out["retrain"]) == 2
        for a in _alerts(svc):
            assert "bob" in a["retrain"]["skipped"] and "runner" in a["retrain"]["skipped"]
        assert not [r for r in p.runs.list("alice", limit=50) if r["trigger"] == "monitor"]
    denied = [e for e in studio.ok("audit", "--action", "run.start") if e["decision"] == "deny"]
    assert denied and denied[0]["actor"] == "bob" and denied[0]["details"]["trigger"] == "monitor"


def test_bad_trigger_options_are_refused_in_one_line_and_nothing_is_created(shop):
    with shop.opened() as p:
        svc = _service(p)
        cases: list[tuple[dict[str, Any], type[Exception], str]] = [
            ({"workflow": "shop/nope/retrain"}, NotFoundError, "shop/nope"),
            ({"workflow": "shop/models/nope"}, Exception, "nope"),
            ({"params": {"rounds": "many"}}, ParameterError, "rounds"),
            ({"params": {"epochs": "3"}}, ParameterError, "epochs"),
            ({"cooldown": "6 hours"}, InvalidInputError, "invalid --cooldown '6 hours'"),
            ({"max_per": "0/7d"}, InvalidInputError, "invalid --max-per '0/7d'"),
            ({"max_per": "3/week"}, InvalidInputError, "invalid --max-per period"),
            ({"workflow": "flows.py:retrain"}, InvalidInputError, "working copy"),
        ]
        for retrain, error, message in cases:
            with pytest.raises(error, match=message):
                _add(svc, **retrain)
        assert svc.list("alice") == []
    bad = shop.fails("monitor", "add", "shop/revenue", "--source", "shop/sales", "--time-column",
                     "ts", "--metric", "revenue=sum:amount", "--on-alert-run", WORKFLOW,
                     "--cooldown", "soon", code=2)  # fmt: skip
    assert "invalid --cooldown 'soon' (use a number and a unit" in bad.stderr
    shop.fails("monitor", "add", "shop/revenue", "--source", "shop/sales", "--time-column", "ts",
               "--metric", "revenue=sum:amount", "--run-param", "rounds=2")  # fmt: skip
    assert shop.ok("monitor", "list") == []
    assert not [e for e in shop.ok("audit", "--action", "monitor.add") if e["decision"] == "allow"]


def test_the_cli_configures_a_trigger_and_shows_what_it_started(shop):
    added = shop.ok("monitor", "add", "shop/revenue", "--source", "shop/sales", "--time-column",
                    "ts", "--metric", "revenue=sum:amount", "--on-alert-run", WORKFLOW,
                    "--run-param", "rounds=2", "--cooldown", "1d", "--max-per", "2/7d")  # fmt: skip
    assert added["spec"]["retrain"]["cooldown_s"] == 86400
    assert added["spec"]["retrain"]["params"] == {"rounds": "2"}
    human = shop.cli("monitor", "run", "shop/revenue", "--now", NOW)
    assert human.code == 0, human.stderr
    assert f"retrain {WORKFLOW} for al_" in human.stdout and "skipped: cooldown 1d" in human.stdout
    alerts = shop.ok("monitor", "alerts", "shop/revenue")
    [run_id] = [a["retrain"]["run"] for a in alerts if a["retrain"].get("run")]
    listed = shop.ok("runs", "list")
    assert [r["trigger"] for r in listed if r["id"] == run_id] == ["monitor"]
