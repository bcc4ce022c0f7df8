"""Monitors declared in a module's module.toml (SQLite and Postgres): checked at push, created
on promotion as the promoter (governed and audited like monitor add), never changed or removed
by a later promotion, and refused ones reported without undoing the promotion."""

from __future__ import annotations

from pathlib import Path

import pytest

TASKS = """
from mlstudio import task, workflow


@task
def fit(days: int) -> dict:
    return {"days": days}


@workflow
def retrain(days: int = 7) -> dict:
    return fit(days)
"""

MONITORS = """
[monitors.orders-daily]
source = "shop/orders"
time_column = "ts"
metrics = ["orders=sum:orders"]
schedule = "0 6 * * *"
freshness = 3
"""


def _module(tmp_path: Path, extra: str, folder: str = "forecast") -> Path:
    root = tmp_path / folder
    root.mkdir(exist_ok=True)
    (root / "module.toml").write_text(
        '[module]\nname = "shop/forecast"\ndescription = "forecast"\nrequirements = []\n' + extra
    )
    (root / "tasks.py").write_text(TASKS)
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_tasks.py").write_text("def test_nothing():\n    assert 1 + 1 == 2\n")
    return root


@pytest.fixture
def shop(studio, tmp_path: Path) -> None:
    studio.ok("namespace", "create", "shop")
    csv = tmp_path / "orders.csv"
    csv.write_text("ts,orders\n" + "".join(f"2026-01-{d:02d}T12:00:00,{100 + d}\n"
                                           for d in range(1, 29)))  # fmt: skip
    studio.ok("data", "import", csv, "--name", "shop/orders", "--classify", "ts=internal",
              "--classify", "orders=internal")  # fmt: skip


def test_a_promotion_creates_the_monitors_a_module_declares(studio, shop, tmp_path):
    studio.ok("module", "push", _module(tmp_path, MONITORS))
    shown = studio.ok("module", "show", "shop/forecast")
    assert shown["selected"]["manifest"]["monitors"]["shop/orders-daily"]["freshness"] == 3
    assert studio.ok("monitor", "list") == []  # pushing declares; promoting creates
    moved = studio.ok("module", "promote", "shop/forecast", "1")
    assert moved["monitors"] == [{"monitor": "shop/orders-daily", "action": "created"}]
    [mon] = studio.ok("monitor", "list")
    assert mon["name"] == "shop/orders-daily" and mon["source"] == "shop/orders"
    assert mon["spec"]["schedule"] == "0 6 * * *" and mon["spec"]["freshness"] == 3
    assert mon["spec"]["declared_by"] == "shop/forecast"
    [added] = studio.ok("audit", "--action", "monitor.add")
    assert added["actor"] == "alice" and added["decision"] == "allow"
    run = studio.ok("monitor", "run", "shop/orders-daily", "--now", "2026-01-29T06:00:00Z")
    assert run["computed"]["anomaly:orders"] == 28
    # a new version changing the declaration leaves the monitor and its history alone
    changed = MONITORS.replace("freshness = 3", "freshness = 5")
    studio.ok("module", "push", _module(tmp_path, changed, "v2"))
    again = studio.ok("module", "promote", "shop/forecast", "2")
    assert again["monitors"] == [{"monitor": "shop/orders-daily", "action": "exists",
                                  "declared_by_this_module": True}]  # fmt: skip
    assert studio.ok("monitor", "show", "shop/orders-daily")["spec"]["freshness"] == 3
    text = studio.cli("module", "promote", "shop/forecast", "1")
    assert text.code == 0 and "monitor shop/orders-daily: exists" in text.stdout


def test_a_declared_monitor_the_promoter_may_not_create_is_reported_and_promotion_stands(
    studio, shop, tmp_path
):
    csv = tmp_path / "secret.csv"
    csv.write_text("ts,orders\n2026-01-01T12:00:00,5\n")
    studio.ok("data", "import", csv, "--name", "shop/secret", "--classify", "ts=confidential",
              "--classify", "orders=confidential")  # fmt: skip
    secret = MONITORS.replace('source = "shop/orders"', 'source = "shop/secret"\ndomain = "adhoc"')
    studio.ok("module", "push", _module(tmp_path, secret))
    moved = studio.ok("module", "promote", "shop/forecast", "1")
    [refused] = moved["monitors"]
    assert refused["action"] == "refused" and "adhoc" in refused["reason"]
    assert moved["moved"] is True and studio.ok("monitor", "list") == []
    tags = studio.ok("module", "show", "shop/forecast")["tags"]
    assert {t["name"]: t["version"] for t in tags}["latest"] == 1
    denied = [e for e in studio.ok("audit", "--action", "data.read") if e["decision"] == "deny"]
    assert denied and denied[0]["details"]["domain"] == "adhoc"


BAD = [
    ("[monitors]\n", "one table per monitor"),
    ('[monitors.x]\nsource = "shop/orders"\n', "lacks time_column"),
    ('[monitors.x]\nsource = "shop/orders"\ntime_column = "ts"\ncolour = "red"\n', "colour"),
    ('[monitors.x]\nsource = "shop/orders"\ntime_column = "ts"\nmetrics = "n=count"\n',
     "list of strings"),
    ('[monitors.x]\nsource = "shop/orders"\ntime_column = "ts"\nfreshness = "2"\n', "number"),
    ('[monitors."bad name"]\nsource = "shop/orders"\ntime_column = "ts"\n', "monitor name"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "needle"), BAD)
def test_bad_declarations_are_refused_at_push(studio, shop, tmp_path, extra, needle):
    failed = studio.fails("module", "push", _module(tmp_path, extra), "--no-tests")
    assert needle in failed.stderr and "module.toml" in failed.stderr
    assert studio.ok("module", "list") == []
