"""The feature store from inside a workflow (SQLite and Postgres): ``training_set`` in a task
builds the point-in-time set as the run's user under the run's domain, and ``materialize`` in
a task is the online refresh a schedule runs. Neither is cached (what they read or write is
not in their cache key); a domain that may not read a feature's classification is refused."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_features import churn  # noqa: F401  (the fixture)

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


def test_a_task_builds_a_point_in_time_training_set_and_is_not_cached(studio, churn):  # noqa: F811
    push(studio, churn, '{"orders": "int64"}')
    first = studio.ok("run", "churn/feats/train_set:latestAlpha")
    assert first["state"] == "succeeded", first
    # the backfilled 99 is not used before it was known; exact label time and max_age: missing
    assert orders(studio, first["id"]) == ["1", "99", "", "", ""]
    again = studio.ok("run", "churn/feats/train_set:latestAlpha")
    build = task_of(studio.ok("runs", "show", again["id"]), "build")
    assert build["cache_hit"] is False and build["state"] == "succeeded"


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
