"""A monitor whose source is an SQL query over datasets (SQLite and Postgres): the same windows
as the dataset itself, a slice that only a join provides, governed reads of every dataset the
query names, and bad queries refused in one line with nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.test_monitoring import NOW, _add, _service, _write, shop  # noqa: F401

from mlstudio.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
)

JOINED = 'sql:SELECT p.*, a.tier FROM "shop/preds" p JOIN "shop/accounts" a USING (account)'


@pytest.fixture
def accounts(studio, shop, tmp_path: Path) -> None:  # noqa: F811
    tiers = {"account": [f"a{i}" for i in range(50)],
             "tier": ["gold" if i % 5 == 0 else "basic" for i in range(50)]}  # fmt: skip
    path = _write(tmp_path / "accounts.parquet", tiers)
    studio.ok("data", "import", path, "--name", "shop/accounts", "--classify", "account=internal",
              "--classify", "tier=confidential")  # fmt: skip


def _alerts(svc, name: str) -> list[tuple]:
    return sorted(
        (a["check"], a["slice"], a["first_window"], a["windows"]) for a in svc.alerts("alice", name)
    )


def test_an_sql_source_computes_what_its_dataset_would(studio, shop):  # noqa: F811
    with studio.opened() as p:
        svc = _service(p)
        _add(svc)
        mon = svc.add("alice", "shop/churn-sql", source='sql:SELECT * FROM "shop/preds"',
                      time_column="ts", dimensions=["plan"], features=["x1"],
                      reference="shop/train", metrics=["revenue=sum:amount"], persistence="2/3")  # fmt: skip
        assert mon["source"] == "sql:shop/preds"
        assert mon["spec"]["sql"] == 'SELECT * FROM "shop/preds"'
        direct = svc.run("alice", "shop/churn", now=NOW)
        queried = svc.run("alice", "shop/churn-sql", now=NOW)
        assert queried["computed"] == direct["computed"]
        assert _alerts(svc, "shop/churn-sql") == _alerts(svc, "shop/churn") != []


def test_a_join_gives_a_slice_no_single_dataset_has(studio, accounts):
    with studio.opened() as p:
        svc = _service(p)
        mon = svc.add("alice", "shop/by-tier", source=JOINED, time_column="ts",
                      dimensions=["tier"], metrics=["revenue=sum:amount"])  # fmt: skip
        assert mon["source"] == "sql:shop/preds,shop/accounts"
        out = svc.run("alice", "shop/by-tier", now=NOW)
        assert out["computed"]["anomaly:revenue"] == 30 * 3  # all rows, gold, basic
        revenue = [a for a in svc.alerts("alice", "shop/by-tier") if a["slice"] == "tier=gold"]
        assert [a["first_window"] for a in revenue] == ["2026-01-20"]  # the spike, in the slice
    reads = [e for e in studio.ok("audit", "--action", "data.read")
             if e["decision"] == "allow" and e["details"].get("domain") == "production"]  # fmt: skip
    assert {"shop/preds@1", "shop/accounts@1"} <= {e["resource"].split(":", 1)[-1] for e in reads}


def test_every_dataset_the_query_names_is_a_governed_read(studio, accounts):
    with studio.opened() as p:
        svc = _service(p)
        with pytest.raises(PermissionDeniedError, match="adhoc"):
            svc.add("alice", "shop/by-tier", source=JOINED, time_column="ts", domain="adhoc",
                    dimensions=["tier"], metrics=["revenue=sum:amount"])  # fmt: skip
        assert svc.list("alice") == []


BAD = [
    ("sql:", InvalidInputError, "empty"),
    ("sql:SELECT * FROM preds", InvalidInputError, "'preds', not a dataset"),
    ("sql:SELECT * FROM shop.preds", InvalidInputError, "'shop.preds', not a dataset"),
    ("sql:SELECT 1 AS ts", InvalidInputError, "reads no dataset"),
    ('sql:SELECT * FROM "shop/preds" WHERE', InvalidInputError, "does not parse"),
    ('sql:SELECT * FROM "shop/nope"', NotFoundError, "shop/nope"),
    ('sql:DELETE FROM "shop/preds"', PolicyViolationError, "DELETE"),
    ('sql:SELECT ts FROM "shop/preds"', InvalidInputError, "'plan'"),
]


@pytest.mark.parametrize(("source", "error", "needle"), BAD)
def test_bad_sql_sources_are_refused_and_nothing_is_stored(studio, shop, source, error, needle):  # noqa: F811
    with studio.opened() as p:
        svc = _service(p)
        with pytest.raises(error) as raised:
            svc.add("alice", "shop/bad", source=source, time_column="ts", dimensions=["plan"],
                    metrics=["revenue=sum:amount"])  # fmt: skip
        assert needle in str(raised.value) and "\n" not in str(raised.value)
        assert svc.list("alice") == []


def test_the_cli_adds_and_runs_an_sql_monitor(studio, accounts):
    studio.ok("monitor", "add", "shop/by-tier", "--source", JOINED, "--time-column", "ts",
              "--dimension", "tier", "--metric", "revenue=sum:amount")  # fmt: skip
    shown = studio.ok("monitor", "list")
    assert [m["source"] for m in shown] == ["sql:shop/preds,shop/accounts"]
    out = studio.ok("monitor", "run", "shop/by-tier", "--now", NOW)
    assert out["computed"]["anomaly:revenue"] == 90
