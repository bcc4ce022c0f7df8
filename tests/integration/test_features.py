"""The feature store end to end through the CLI, on SQLite and Postgres: views versioned on
module push, point-in-time training sets (knowledge time, exclusive label time, max_age,
composite keys, pinned versions), the online store with max_age and per-column clearance."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

T0 = datetime(2026, 1, 1)

VIEWS = """
import mlstudio
from mlstudio.features import Entity, FeatureView

customer = Entity("customer", join_keys={"region": "string", "cid": "string"})

stats = FeatureView(
    "customer_stats",
    entity=customer,
    source="churn/events",
    event_time="ts",
    knowledge_time="known_at",
    max_age="{max_age}",
    features={features},
)


@mlstudio.task
def noop() -> int:
    return 1
"""


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def write(path: Path, columns: dict) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


@pytest.fixture
def churn(studio, tmp_path: Path) -> Path:
    studio.ok("namespace", "create", "churn")
    ts = pa.array([day(1), day(2), day(1), day(1)], pa.timestamp("us"))
    known = pa.array([day(1), day(10), day(1), day(1)], pa.timestamp("us"))
    events = write(
        tmp_path / "events.parquet",
        {
            "region": ["1", "1", "12", "x"],
            "cid": ["23", "23", "3", "y"],
            "ts": ts,
            "known_at": known,
            "orders": pa.array([1, 99, 5, 7], pa.int64()),
            "email": ["a@x", "a@x", "b@x", "c@x"],
        },
    )
    studio.ok(
        "data", "import", events, "--name", "churn/events",
        *[f"--classify={c}=internal" for c in ("region", "cid", "ts", "known_at", "orders")],
        "--classify", "email=confidential+pii",
    )  # fmt: skip
    labels = write(
        tmp_path / "labels.parquet",
        {
            "region": ["1", "1", "12", "123", "1"],
            "cid": ["23", "23", "3", "", "23"],
            "label_time": pa.array([day(5), day(11), day(1), day(5), day(40)], pa.timestamp("us")),
        },
    )
    studio.ok(
        "data", "import", labels, "--name", "churn/labels",
        *[f"--classify={c}=internal" for c in ("region", "cid", "label_time")],
    )  # fmt: skip
    folder = tmp_path / "feats"
    studio.ok("module", "new", "churn/feats", folder)
    (folder / "tests" / "test_tasks.py").unlink()
    return folder


def push(studio, folder: Path, features: str, max_age: str = "30d") -> dict:
    (folder / "tasks.py").write_text(
        VIEWS.replace("{features}", features).replace("{max_age}", max_age)
    )
    return studio.ok("module", "push", folder, "--no-tests")


def training(studio, *extra: str, view: str = "churn/customer_stats") -> list[dict]:
    out = studio.ok(
        "features", "training-set", "churn/labels", "-f", view, "--as-of", "label_time",
        "--save", "churn/train", *extra,
    )  # fmt: skip
    ds = studio.ok("data", "show", out["dataset"])
    assert ds["source"]["kind"] == "features"
    return out


def test_views_pit_training_set_and_online(studio, churn, tmp_path):
    push(studio, churn, '{"orders": "int64"}')
    listed = studio.ok("features", "list")
    assert [v["ref"] for v in listed] == ["churn/customer_stats@1"]
    shown = studio.ok("features", "show", "churn/customer_stats")
    assert shown["join_keys"] == [["region", "string"], ["cid", "string"]]
    assert shown["max_age_s"] == 30 * 86400 and shown["knowledge_time"] == "known_at"
    # pushing the same definitions adds no version; an edit adds one
    push(studio, churn, '{"orders": "int64"}')
    assert studio.ok("features", "show", "churn/customer_stats")["versions"] == [1]
    push(studio, churn, '{"orders": "int64", "email": "string"}', max_age="3d")
    assert studio.ok("features", "show", "churn/customer_stats")["versions"] == [1, 2]
    changes = studio.ok("features", "diff", "churn/customer_stats@1", "churn/customer_stats@2")
    assert changes["features_added"] == ["email"]
    assert changes["changed"]["max_age_s"] == {"from": 30 * 86400, "to": 3 * 86400}

    # a consumer pinned to @1: the edit (max_age 3d) does not change its training set
    out = training(studio, view="churn/customer_stats@1")
    assert out["views"] == ["churn/customer_stats@1"]
    out_file = tmp_path / "train.parquet"
    studio.ok(
        "features", "training-set", "churn/labels", "-f", "churn/customer_stats@1",
        "--as-of", "label_time", "-o", out_file,
    )  # fmt: skip
    rows = pq.read_table(out_file).to_pylist()
    # label 1 (day 5): the correction of day 2 is only known at day 10 -> 1, not 99
    # label 2 (day 11): the correction is known -> 99
    # label 3 (day 1): the value stamped exactly at the label time is excluded -> None
    # label 4: key ("123", "") must not collide with ("1", "23") or ("12", "3") -> None
    # label 5 (day 40): older than max_age 30d -> None
    assert [r["orders"] for r in rows] == [1, 99, None, None, None]
    inclusive = tmp_path / "inclusive.parquet"
    studio.ok(
        "features", "training-set", "churn/labels", "-f", "churn/customer_stats@1:orders",
        "--as-of", "label_time", "--inclusive", "--ignore-knowledge-time", "-o", inclusive,
    )  # fmt: skip
    assert [r["orders"] for r in pq.read_table(inclusive).to_pylist()] == [99, 99, 5, None, None]
    # @2 has max_age 3d: the day-5 label (value of day 1) is now too old
    v2 = tmp_path / "v2.parquet"
    studio.ok(
        "features", "training-set", "churn/labels", "-f", "churn/customer_stats@2:orders",
        "--as-of", "label_time", "-o", v2,
    )  # fmt: skip
    assert [r["orders"] for r in pq.read_table(v2).to_pylist()] == [None, None, None, None, None]

    # the pii feature is denied to experimentation offline and online, and audited
    denied = studio.fails(
        "features", "training-set", "churn/labels", "-f", "churn/customer_stats@2:email",
        "--as-of", "label_time", "-o", tmp_path / "no.parquet",
    )  # fmt: skip
    assert "pii" in denied.stderr
    assert not (tmp_path / "no.parquet").exists()

    # online: materialize, read a composite key, expired beyond max_age, pii denied
    done = studio.ok("features", "materialize", "churn/customer_stats@2")
    assert done["written"] == 3
    got = studio.ok(
        "features",
        "get",
        "churn/customer_stats@2",
        "--key",
        '["1", "23"]',
        "--key",
        '["12", "3"]',
        "--key",
        '["123", ""]',
        "--feature",
        "orders",
    )
    # every value is from January 2026: older than 3d now -> expired
    assert [r["status"] for r in got["results"]] == ["expired", "expired", "missing"]
    online = studio.fails(
        "features", "get", "churn/customer_stats@2", "--key", '["1","23"]',
        "--domain", "experimentation",
    )  # fmt: skip
    assert "pii" in online.stderr
    refusals = studio.ok("audit", "--action", "features.online_read", "--limit", "100")
    assert any(e.get("decision") == "deny" for e in refusals), refusals


def test_unknown_view_and_version_are_clear_errors(studio, churn):
    push(studio, churn, '{"orders": "int64"}')
    missing = studio.fails("features", "show", "churn/nope")
    assert "does not exist" in missing.stderr
    version = studio.fails("features", "show", "churn/customer_stats@7")
    assert "versions 1..1" in version.stderr
    bad = studio.fails(
        "features", "training-set", "churn/labels", "-f", "churn/customer_stats:spend",
        "--as-of", "label_time", "--save", "churn/t",
    )  # fmt: skip
    assert "no feature spend" in bad.stderr
    assert studio.ok("data", "list", "--search", "churn/t") == [] or all(
        d["name"] != "churn/t" for d in studio.ok("data", "list")
    )


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_online_store_max_age_incremental_and_consistency(studio, churn, tmp_path, kind):
    from mlstudio.integrations.features.service import FeatureService

    push(studio, churn, '{"orders": "int64"}', max_age="3d")
    ref = "churn/customer_stats@1"
    with studio.opened() as platform:
        service = FeatureService(platform.store, platform.cas, platform.settings.home)
        online = service.online(kind)
        if kind == "redis":  # one Redis for every test: start this view from nothing
            online.delete_view(ref)
        first = service.materialize("alice", ref, store=kind)
        assert (first["written"], first["incremental"]) == (3, False)
        reader = service.reader("alice", ref, domain="production", store=kind)
        keys = [["1", "23"], ["12", "3"], ["123", ""]]
        fresh = reader.read(keys, now=day(4))
        assert [r["status"] for r in fresh] == ["present", "present", "missing"]
        # the late correction (event day 2) is the newest value per key online
        assert [r["values"] for r in fresh[:2]] == [{"orders": 99}, {"orders": 5}]
        stale = reader.read(keys, now=day(6))  # day 2 + 3d < day 6
        assert [r["status"] for r in stale] == ["expired", "expired", "missing"]
        assert stale[0]["values"] is None

        # a new dataset version with one newer row: the next run writes only that key
        old = pq.read_table(tmp_path / "events.parquet")
        row = {
            "region": ["12"], "cid": ["3"], "ts": pa.array([day(3)], pa.timestamp("us")),
            "known_at": pa.array([day(20)], pa.timestamp("us")),
            "orders": pa.array([6], pa.int64()), "email": ["b@x"],
        }  # fmt: skip
        events = tmp_path / "more.parquet"
        pq.write_table(pa.concat_tables([old, pa.table(row, schema=old.schema)]), events)
        studio.ok(
            "data", "import", events, "--name", "churn/events",
            *[f"--classify={c}=internal" for c in ("region", "cid", "ts", "known_at", "orders")],
            "--classify", "email=confidential+pii",
        )  # fmt: skip
        second = service.materialize("alice", ref, store=kind)
        assert (second["written"], second["incremental"]) == (1, True)
        assert reader.read([["12", "3"]], now=day(4))[0]["values"] == {"orders": 6}
        assert service.materialize("alice", ref, store=kind)["written"] == 0

        # online vs offline now: every value is older than max_age on both sides
        report = service.consistency("alice", ref, store=kind, sample=10)
        assert report["checked"] == 3 and report["consistent"], report


def test_bad_online_inputs(studio, churn):
    push(studio, churn, '{"orders": "int64"}')
    wrong = studio.fails("features", "get", "churn/customer_stats", "--key", "1")
    assert "2 join keys" in wrong.stderr
    store = studio.fails("features", "materialize", "churn/customer_stats", "--store", "mongo")
    assert "unknown online store" in store.stderr


def test_consistency_check_finds_a_stale_online_store(studio, churn, tmp_path):
    push(studio, churn, '{"orders": "int64"}', max_age="3650d")
    ref = "churn/customer_stats@1"
    studio.ok("features", "materialize", ref)
    assert studio.ok("features", "check", ref)["consistent"] is True
    # a new dataset version changes key ("12", "3"); the online store is not refreshed yet
    old = pq.read_table(tmp_path / "events.parquet")
    row = {
        "region": ["12"], "cid": ["3"], "ts": pa.array([day(3)], pa.timestamp("us")),
        "known_at": pa.array([day(20)], pa.timestamp("us")),
        "orders": pa.array([6], pa.int64()), "email": ["b@x"],
    }  # fmt: skip
    events = tmp_path / "more.parquet"
    pq.write_table(pa.concat_tables([old, pa.table(row, schema=old.schema)]), events)
    studio.ok(
        "data", "import", events, "--name", "churn/events",
        *[f"--classify={c}=internal" for c in ("region", "cid", "ts", "known_at", "orders")],
        "--classify", "email=confidential+pii",
    )  # fmt: skip
    stale = studio.cli("features", "check", ref, "--json")
    assert stale.code == 1

    report = json.loads(stale.stdout)
    assert report["mismatches"] == 1 and report["checked"] == 3
    assert report["examples"][0]["key"] == ["12", "3"]
    assert report["examples"][0]["features"]["orders"] == {"offline": 6, "online": 5}
    studio.ok("features", "materialize", ref)
    assert studio.ok("features", "check", ref)["consistent"] is True


def test_sdk_training_set_is_a_governed_dataset(studio, churn, monkeypatch):
    import mlstudio.features

    push(studio, churn, '{"orders": "int64"}')
    monkeypatch.setenv("MLSTUDIO_HOME", str(studio.home))
    monkeypatch.setenv("MLSTUDIO_DATABASE_URL", studio.database_url)
    monkeypatch.setenv("MLSTUDIO_USER", "alice")
    ds = mlstudio.features.training_set(
        "churn/labels", ["churn/customer_stats@1:orders"], as_of="label_time"
    )
    table = ds.to_arrow()
    assert table.column("orders").to_pylist() == [1, 99, None, None, None]
    # the feature carries its source column's classification
    meta = json.loads(table.schema.field("orders").metadata[b"mlstudio.classification"])
    assert "internal" in json.dumps(meta)


def test_backfill_reaches_the_online_store_without_a_knowledge_time(studio, churn, tmp_path):
    (churn / "tasks.py").write_text(
        VIEWS.replace('    knowledge_time="known_at",\n', "")
        .replace("{features}", '{"orders": "int64"}')
        .replace("{max_age}", "3650d")
    )
    studio.ok("module", "push", churn, "--no-tests")
    ref = "churn/customer_stats@1"
    assert studio.ok("features", "show", ref)["knowledge_time"] is None
    assert studio.ok("features", "materialize", ref)["written"] == 3
    # a backfill: key ("x", "y") gets a newer value, stamped before the other keys' newest rows
    old = pq.read_table(tmp_path / "events.parquet")
    row = {
        "region": ["x"], "cid": ["y"], "ts": pa.array([day(1.5)], pa.timestamp("us")),
        "known_at": pa.array([day(1.5)], pa.timestamp("us")),
        "orders": pa.array([8], pa.int64()), "email": ["c@x"],
    }  # fmt: skip
    events = tmp_path / "backfill.parquet"
    pq.write_table(pa.concat_tables([old, pa.table(row, schema=old.schema)]), events)
    studio.ok(
        "data", "import", events, "--name", "churn/events",
        *[f"--classify={c}=internal" for c in ("region", "cid", "ts", "known_at", "orders")],
        "--classify", "email=confidential+pii",
    )  # fmt: skip
    again = studio.ok("features", "materialize", ref)
    assert again["incremental"] is False and again["written"] == 3  # a full run
    got = studio.ok("features", "get", ref, "--key", '["x", "y"]')
    assert got["results"][0]["values"]["orders"] == 8
    assert studio.ok("features", "check", ref)["consistent"] is True


TRAINER = """
import pyarrow as pa

from mlstudio import Model, dataset, task, workflow


@task(columns={"table": ["orders"]})
def fit(table: pa.Table) -> Model:
    orders = [v or 0 for v in table.column("orders").to_pylist()]
    return Model({"mean_orders": sum(orders) / len(orders)}, features=["orders"])


@workflow
def train() -> Model:
    return fit(dataset("churn/train"))
"""


def test_a_model_records_the_feature_views_it_was_trained_with(studio, churn, tmp_path):
    from mlstudio.testing.flows import write_flow

    push(studio, churn, '{"orders": "int64"}')
    training(studio, view="churn/customer_stats@1")
    flow = write_flow(tmp_path, TRAINER)
    run = studio.ok("run", f"{flow}:train")
    assert run["state"] == "succeeded", run
    studio.ok("model", "register", "propensity", "--run", run["id"], "--namespace", "churn")
    version = studio.ok("model", "show", "propensity/1")["selected"]
    assert version["lineage"]["features"] == [
        {"view": "churn/customer_stats@1", "columns": ["orders"], "via": "churn/train@1"}
    ]
    consumers = studio.ok("features", "show", "churn/customer_stats@1")["consumers"]
    assert [(c["consumer"], c["version"], c["features"]) for c in consumers] == [
        ("dataset:churn/train@1", 1, ["orders"]),
        ("model:propensity/1", 1, ["orders"]),
    ]
    # the catalog finds the view by a feature's name, with the model that uses it
    (found,) = studio.ok("features", "list", "--search", "ORDERS")
    assert (found["ref"], found["models"], found["consumers"]) == (
        "churn/customer_stats@1",
        ["propensity/1"],
        2,
    )
    assert found["classification"] == "internal" and found["materialized_at"] is None
    assert studio.ok("features", "list", "--search", "no-such-feature") == []
    # a model trained on a plain dataset records no features
    (tmp_path / "plain").mkdir()
    plain = write_flow(tmp_path / "plain", TRAINER.replace("churn/train", "churn/events"))
    run = studio.ok("run", f"{plain}:train")
    studio.ok("model", "register", "propensity", "--run", run["id"], "--namespace", "churn")
    assert "features" not in studio.ok("model", "show", "propensity/2")["selected"]["lineage"]


SQL_VIEW = """
import mlstudio
from mlstudio.features import Entity, FeatureView

customer = Entity("customer", join_keys={"region": "string", "cid": "string"})

doubled = FeatureView(
    "customer_doubled",
    entity=customer,
    sql="SELECT region, cid, ts, known_at, orders * 2 AS orders2, length(email) AS email_len "
    "FROM events",
    inputs={"events": "churn/events"},
    event_time="ts",
    knowledge_time="known_at",
    features={"orders2": "int64", "email_len": "int64"},
)


@mlstudio.task
def noop() -> int:
    return 1
"""


def test_an_sql_view_classifies_each_feature_by_its_own_sources(studio, churn, tmp_path):
    """A feature computed by a view's query carries the tags of the columns it is computed
    from (not of everything the query reads), in ``features show`` and online (offline, the
    domain must read every column the query reads, as for an SQL task)."""
    (churn / "tasks.py").write_text(SQL_VIEW)
    studio.ok("module", "push", churn, "--no-tests")
    shown = studio.ok("features", "show", "churn/customer_doubled")
    tags = shown["classification"]
    assert tags["orders2"] == "internal" and "pii" in tags["email_len"]
    out = tmp_path / "doubled.parquet"
    studio.ok(
        "features", "training-set", "churn/labels", "-f", "churn/customer_doubled@1:orders2",
        "--as-of", "label_time", "--domain", "production", "-o", str(out),
    )  # fmt: skip
    assert [r["orders2"] for r in pq.read_table(out).to_pylist()] == [2, 198, None, None, 198]
    studio.ok("features", "materialize", "churn/customer_doubled@1")
    (listed,) = studio.ok("features", "list", "--search", "doubled")
    assert "pii" in listed["classification"] and listed["materialized_at"]
    # experimentation may read the internal feature online, not the one made from the email
    got = studio.ok(
        "features", "get", "churn/customer_doubled@1", "--key", '["1", "23"]',
        "--feature", "orders2", "--domain", "experimentation",
    )  # fmt: skip
    assert got["results"][0]["status"] in ("present", "expired")
    denied = studio.fails(
        "features", "get", "churn/customer_doubled@1", "--key", '["1", "23"]',
        "--feature", "email_len", "--domain", "experimentation",
    )  # fmt: skip
    assert "pii" in denied.stderr
