"""The feature store through a real server: the same commands print the same as embedded on
the same database, and a pii feature is denied to a domain without pii clearance remotely."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

VIEWS = """
import mlstudio
from mlstudio.features import Entity, FeatureView

customer = Entity("customer", join_keys={"cid": "string"})

stats = FeatureView(
    "remote_stats",
    entity=customer,
    source="featns/events",
    event_time="ts",
    max_age="3650d",
    features={"orders": "int64", "email": "string"},
)


@mlstudio.task
def noop() -> int:
    return 1
"""


def test_features_remotely(api_server, tmp_path):
    token = api_server.token()
    now = datetime.now().replace(microsecond=0)
    assert api_server.cli("namespace", "create", "featns", "--json").code == 0
    events = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "cid": ["a", "b"],
                "ts": pa.array([now - timedelta(days=2)] * 2, pa.timestamp("us")),
                "orders": pa.array([3, 4], pa.int64()),
                "email": ["a@x", "b@x"],
            }
        ),
        events,
    )
    labels = tmp_path / "labels.parquet"
    pq.write_table(
        pa.table({"cid": ["a", "b", "c"], "at": pa.array([now] * 3, pa.timestamp("us"))}), labels
    )
    for path, name, extra in (
        (events, "featns/events", ["--classify", "email=confidential+pii"]),
        (labels, "featns/labels", []),
    ):
        cols = ["cid", "ts", "orders"] if name.endswith("events") else ["cid", "at"]
        done = api_server.cli(
            "data", "import", path, "--name", name, "--json",
            *[f"--classify={c}=internal" for c in cols], *extra,
        )  # fmt: skip
        assert done.code == 0, done.stderr
    folder = tmp_path / "feats"
    assert api_server.cli("module", "new", "featns/feats", folder).code == 0
    (folder / "tests" / "test_tasks.py").unlink()
    (folder / "tasks.py").write_text(VIEWS)
    pushed = api_server.cli("module", "push", folder, "--no-tests", "--json")
    assert pushed.code == 0, pushed.stderr

    listed = api_server.same("features", "list", token=token)
    assert [v["ref"] for v in listed] == ["featns/remote_stats@1"]
    shown = api_server.same("features", "show", "featns/remote_stats@1", token=token)
    assert shown["classification"]["email"].startswith("confidential")

    built = api_server.cli(
        "features", "training-set", "featns/labels", "-f", "featns/remote_stats:orders",
        "--as-of", "at", "--save", "featns/train", "--json", token=token,
    )  # fmt: skip
    assert built.code == 0, built.stderr
    assert built.json["rows"] == 3 and built.json["views"] == ["featns/remote_stats@1"]

    done = api_server.cli("features", "materialize", "featns/remote_stats", "--json", token=token)
    assert done.code == 0, done.stderr
    assert done.json["written"] == 2
    got = api_server.cli(
        "features", "get", "featns/remote_stats", "--key", "a", "--key", "c",
        "--feature", "orders", "--json", token=token,
    )  # fmt: skip
    assert got.code == 0, got.stderr
    assert [r["status"] for r in got.json["results"]] == ["present", "missing"]
    assert got.json["results"][0]["values"] == {"orders": 3}

    denied = api_server.cli(
        "features", "get", "featns/remote_stats", "--key", "a", "--domain", "experimentation",
        "--json", token=token,
    )  # fmt: skip
    assert denied.code != 0 and "pii" in denied.stderr
