"""The feature store from inside a workflow (SQLite and Postgres): ``training_set`` in a task
builds the point-in-time set as the run's user under the run's domain, and ``materialize`` in
a task is the online refresh a schedule runs. A training set is cached while its views and
their data hold (a refresh never is: it is an effect); a domain that may not read a feature's
classification is refused, also on a cache hit."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from tests.integration.test_features import churn, day, write  # noqa: F401  (the fixture)

from mlstudio.testing.flows import task_of

TASKS = """
import mlstudio
import pyarrow as pa
from mlstudio.features import Entity, FeatureView, materialize, training_set

customer = Entity("customer", join_keys={"region": "string", "cid": "string"})

stats = FeatureView(
    "customer_stats",
    entity=customer,
    source="churn/events",
    event_time="ts",
    knowledge_time="known_at",
    max_age="30d",
    features={FEATURES},
)


@mlstudio.task
def build(labels: mlstudio.Dataset) -> pa.Table:
    return training_set(labels, ["churn/customer_stats@1"], as_of="label_time").to_arrow()


@mlstudio.task
def refresh(full: bool = False) -> dict:
    return materialize("churn/customer_stats@1", full=full)


@mlstudio.workflow
def train_set():
    return build(mlstudio.dataset("churn/labels"))


@mlstudio.workflow
def refresh_online(full: bool = False):
    return refresh(full)
"""


def push(studio, folder: Path, features: str, *flags: str) -> None:
    (folder / "tasks.py").write_text(TASKS.replace("{FEATURES}", features))
    studio.ok("module", "push", folder, *flags)


def orders(studio, run_id: str) -> list[str]:
    text = studio.cli("runs", "output", run_id, "--task", "build").stdout.splitlines()
    header = [h.strip('"') for h in text[0].split(",")]
    at = header.index("orders")
    return [line.split(",")[at] for line in text[1:]]


def test_a_task_builds_a_point_in_time_training_set_cached_while_its_data_holds(
    studio,
    churn,  # noqa: F811
    tmp_path,
):
    push(studio, churn, '{"orders": "int64"}')
    first = studio.ok("run", "churn/feats/train_set:latestAlpha")
    assert first["state"] == "succeeded", first
    # the backfilled 99 is not used before it was known; exact label time and max_age: missing
    assert orders(studio, first["id"]) == ["1", "99", "", "", ""]
    # nothing changed: the same views on the same data, so the set is reused (and audited)
    again = studio.ok("run", "churn/feats/train_set:latestAlpha")
    build = task_of(studio.ok("runs", "show", again["id"]), "build")
    assert build["cache_hit"] is True
    reused = studio.ok("audit", "--action", "features.read", "--limit", "100")
    assert any((e.get("details") or {}).get("cached_from") == first["id"] for e in reused)
    # a new version of the view's source: the cached set would hide it, so it is rebuilt
    late = write(
        tmp_path / "events2.parquet",
        {
            "region": ["1"],
            "cid": ["23"],
            "ts": pa.array([day(3)], pa.timestamp("us")),
            "known_at": pa.array([day(4)], pa.timestamp("us")),
            "orders": pa.array([42], pa.int64()),
            "email": ["a@x"],
        },
    )
    studio.ok(
        "data", "import", late, "--name", "churn/events",
        *[f"--classify={c}=internal" for c in ("region", "cid", "ts", "known_at", "orders")],
        "--classify", "email=confidential+pii",
    )  # fmt: skip
    third = studio.ok("run", "churn/feats/train_set:latestAlpha")
    shown = studio.ok("runs", "show", third["id"], "--explain")
    build = task_of(shown, "build")
    assert build["cache_hit"] is False and build["state"] == "succeeded"
    assert any("churn/events@2" in r for r in build["explain"]["reasons"]), build["explain"]
    assert orders(studio, third["id"]) == ["42", "42", "", "", ""]  # the new version's rows


def test_a_domain_that_may_not_read_a_feature_is_refused_in_the_task(studio, churn):  # noqa: F811
    push(studio, churn, '{"orders": "int64", "email": "string"}')  # email is pii
    result = studio.cli("run", "churn/feats/train_set:latestAlpha", "--json")
    assert result.code == 1 and result.json["state"] == "failed"
    error = task_of(studio.ok("runs", "show", result.json["id"]), "build")["error"]
    assert "pii" in error
    denied = studio.ok("audit", "--action", "features.read", "--limit", "100")
    assert any(e["decision"] == "deny" for e in denied)


def test_a_task_materializes_a_view_incrementally(studio, churn):  # noqa: F811
    push(studio, churn, '{"orders": "int64"}')
    studio.ok("module", "promote", "churn/feats", "1")  # production runs promoted code only
    first = studio.ok("run", "churn/feats/refresh_online", "--domain", "production")
    assert first["state"] == "succeeded", first
    assert first["output_value"]["written"] == 3
    again = studio.ok("run", "churn/feats/refresh_online", "--domain", "production")
    assert task_of(studio.ok("runs", "show", again["id"]), "refresh")["cache_hit"] is False
    assert again["output_value"]["written"] == 0  # nothing new since the watermark
    got = studio.ok("features", "get", "churn/customer_stats@1", "--key", '["12", "3"]')
    # written (not "missing"), and from January 2026: older than max_age now, so expired
    assert [r["status"] for r in got["results"]] == ["expired"]


def test_what_a_task_builds_from_a_pii_feature_is_pii(studio, churn):  # noqa: F811
    """The training set reaches the task's output without being one of its inputs: the output
    inherits the features' classification, so a domain without pii clearance cannot read it
    (through ``runs output``) or persist it unlabelled."""
    push(studio, churn, '{"orders": "int64", "email": "string"}')  # email is pii
    studio.ok("module", "promote", "churn/feats", "1")
    run = studio.ok("run", "churn/feats/train_set", "--domain", "production")
    assert run["state"] == "succeeded", run
    denied = studio.cli(
        "runs", "output", run["id"], "--task", "build", "--domain", "experimentation"
    )
    assert denied.code != 0 and "pii" in denied.stderr
    allowed = studio.cli("runs", "output", run["id"], "--task", "build", "--domain", "production")
    assert allowed.code == 0 and "a@x" in allowed.stdout
    # the cached set is not served to a domain that may not read the feature: the task runs,
    # and the feature store refuses it
    other = studio.cli("run", "churn/feats/train_set", "--domain", "experimentation", "--json")
    assert other.code == 1 and other.json["state"] == "failed"
    shown = studio.ok("runs", "show", other.json["id"], "--explain")
    build = task_of(shown, "build")
    assert build["cache_hit"] is False and "pii" in build["error"]
    assert any("domain experimentation" in r for r in build["explain"]["reasons"])
