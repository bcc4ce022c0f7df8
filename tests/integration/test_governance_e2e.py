"""Governance end to end through the CLI, on SQLite and on Postgres.

A steward imports a classified CSV into production; a module (pushed with passing tests and
promoted, because production runs only promoted versions) reads it with ``dataset(...)`` in SQL
and Python tasks. Each test asserts on the CLI's ``--json`` output, on the classification the
engine recorded with the task run's output, and on the audit log. Two strict xfails at the end
pin known product gaps (JSON values lose tags; revoked declassifiers survive in the cache).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlstudio.governance.classification import Classification, Level

CSV = "id,email,amount,region\n1,a@x.com,10.5,north\n2,b@y.com,20.0,south\n3,c@z.com,7.25,north\n"

MANIFEST = '[module]\nname = "shop/gov"\ndescription = "governance e2e"\nowners = ["alice"]\n'

# @@VERSION@@ is replaced, so a new module version has different code (a new digest)
TASKS = '''"""Tasks that exercise the execution layer's governance."""

from pathlib import Path

import pandas as pd

from mlstudio import Model, dataset, sql_task, task, workflow

VERSION = @@VERSION@@

derive = sql_task(
    "derive",
    "SELECT id, sha256(email) AS email_hash, amount * 2 AS doubled, upper(email) AS shout, "
    "count(*) OVER () AS n FROM t",
    persist="shop/derived",
)


def touch(marker: str) -> None:
    if marker:
        Path(marker).write_text("user code ran")


@task
def add_column(t: pd.DataFrame) -> pd.DataFrame:
    """Passes id and amount through and adds a new column."""
    out = t[["id", "amount"]].copy()
    out["score"] = t["amount"] + t["id"]
    return out


@task(columns={"t": ["id", "amount", "region"]})
def train(t: pd.DataFrame, marker: str = "") -> Model:
    """A tiny "model" trained on a column nobody classified."""
    touch(marker)
    per_region = t.groupby("region")["amount"].mean().to_dict()
    return Model(per_region, kind="region-mean", rows=len(t))


@task(columns={"t": ["id", "amount"]})
def total_projected(t: pd.DataFrame) -> float:
    return float(t["amount"].sum())


@task
def total_everything(t: pd.DataFrame) -> float:
    return float(t["amount"].sum())


@task(classify={"email": "confidential+pii", "*": "internal"})
def contacts(marker: str = "") -> pd.DataFrame:
    """A generated table that declares its own classification (raw pii)."""
    touch(marker)
    return pd.DataFrame({"id": [1, 2], "email": ["a@x.com", "b@y.com"]})


@task(columns={"t": ["id"]}, persist="shop/x")
def ids(t: pd.DataFrame) -> pd.DataFrame:
    return t


@task(classify={"contact": "internal"})
def relabel(t: pd.DataFrame) -> pd.DataFrame:
    """Tries to declare a column derived from pii and an unclassified column as internal."""
    return pd.DataFrame({"id": t["id"], "contact": t["email"]})


literal = sql_task("literal", "SELECT 'a@x.com' AS email")


@task(columns={"t": ["email"]})
def email_list(t: pd.DataFrame) -> list:
    return list(t["email"])


@task(columns={"t": ["id"]}, persist="shop/leak")
def attach(t: pd.DataFrame, found: list) -> pd.DataFrame:
    return pd.DataFrame({"id": t["id"], "contact": found})


@workflow
def sql():
    return derive(t=dataset("shop/customers"))


@workflow
def python():
    return add_column(dataset("shop/customers"))


@workflow
def model(marker: str = ""):
    return train(dataset("shop/customers"), marker)


@workflow
def reads_projected():
    return total_projected(dataset("shop/customers"))


@workflow
def reads_everything():
    return total_everything(dataset("shop/customers"))


@workflow
def contact_list(marker: str = ""):
    return contacts(marker)


@workflow
def persist_ids():
    return ids(dataset("shop/customers"))


@workflow
def relabelled():
    return relabel(dataset("shop/customers"))


@workflow
def literal_sql():
    return literal()


@workflow
def via_json():
    customers = dataset("shop/customers")
    return attach(customers, email_list(customers))
'''

MODULE_TEST = """import pandas as pd

from tasks import add_column


def test_add_column():
    out = add_column(pd.DataFrame({"id": [1], "amount": [2.0], "email": ["e"]}))
    assert list(out.columns) == ["id", "amount", "score"]
"""


# --- helpers -------------------------------------------------------------------------------------
def write_module(root: Path, version: int) -> Path:
    (root / "tests").mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text(MANIFEST)
    (root / "tasks.py").write_text(TASKS.replace("@@VERSION@@", str(version)))
    (root / "tests" / "test_tasks.py").write_text(MODULE_TEST)
    return root


def push_promoted(studio, root: Path, version: int) -> dict:
    pushed = studio.ok("module", "push", write_module(root, version))
    assert pushed["tests"]["ok"] is True and pushed["tests"]["passed"] == 1
    studio.ok("module", "promote", "shop/gov", str(pushed["version"]))
    return pushed


def run(studio, workflow: str, domain: str, *params: str) -> dict:
    """``mlstudio run … --json``: exit 0 when the run succeeded, 1 when it did not."""
    args = ["run", f"shop/gov/{workflow}", "--domain", domain]
    for param in params:
        args += ["-p", param]
    result = studio.cli(*args, "--json")
    data = result.json
    assert result.code == (0 if data["state"] == "succeeded" else 1), result.stderr
    assert data["domain"] == domain
    return data


def task_of(data: dict, node: str) -> dict:
    (found,) = [t for t in data["tasks"] if t["node"] == node]
    return found


def task_runs(studio, run_id: str) -> dict[str, Any]:
    """node id -> the task run as the engine recorded it in the metadata DB."""
    with studio.opened() as platform, platform.store.read() as uow:
        return {t.node_id: t for t in uow.runs.task_runs_of(run_id)}


def recorded_schema(studio, run_id: str, node: str) -> dict[str, dict]:
    """column -> {classification spec, rule, sources} of a task's stored output table."""
    output = task_runs(studio, run_id)[node].output
    return {
        c["name"]: {
            "tag": Classification.from_dict(c["classification"]).spec(),
            "rule": c["provenance"]["rule"],
            "sources": c["provenance"]["sources"],
            **(
                {"by": c["provenance"]["declassifiers"]}
                if "declassifiers" in c["provenance"]
                else {}
            ),
        }
        for c in output["v"]["schema"]
    }


def events(studio, action: str, run_id: str | None = None) -> list[dict]:
    """Audit events of an action (or prefix), newest first; only one run's when given."""
    found = studio.ok("audit", "--action", action)
    if run_id is not None:
        found = [e for e in found if e["resource"].startswith(f"run:{run_id}")]
    return found


def blobs(studio) -> int:
    return sum(1 for p in (studio.home / "artifacts" / "cas").rglob("*") if p.is_file())


@pytest.fixture
def customers(studio, tmp_path: Path) -> dict:
    """shop/customers@1 in production: email and amount confidential with labels, id internal,
    region left unclassified."""
    studio.ok("namespace", "create", "shop")
    csv = tmp_path / "customers.csv"
    csv.write_text(CSV)
    return studio.ok(
        "data", "import", csv, "--name", "shop/customers",
        "--classify", "email=confidential+pii",
        "--classify", "amount=confidential+financial",
        "--classify", "id=internal",
    )  # fmt: skip


@pytest.fixture
def module(studio, customers, tmp_path: Path) -> Path:
    """shop/gov@1 pushed with passing tests and promoted to latest."""
    root = tmp_path / "gov"
    assert push_promoted(studio, root, 1)["ref"] == "shop/gov@1"
    return root


# --- import and show -----------------------------------------------------------------------------
def test_import_classifies_columns_and_reports_the_unclassified_one_separately(studio, customers):
    assert customers["ref"] == "shop/customers@1" and customers["domain"] == "production"
    shown = studio.ok("data", "show", "shop/customers")
    assert shown["ref"] == "shop/customers@1" and shown["rows"] == 3
    columns = {c["name"]: c for c in shown["columns"]}
    assert [c["name"] for c in shown["columns"]] == ["id", "email", "amount", "region"]
    assert {n: (c["classification"], c["effective_level"]) for n, c in columns.items()} == {
        "id": ("internal", "internal"),
        "email": ("confidential+pii", "confidential"),
        "amount": ("confidential+financial", "confidential"),
        "region": ("unclassified", "restricted"),
    }
    assert columns["email"]["labels"] == ["pii"] and columns["amount"]["labels"] == ["financial"]
    assert columns["email"]["provenance"]["rule"] == "manual"
    assert columns["email"]["provenance"]["actor"] == "alice"
    # the unclassified column is listed on its own, and enforced as the most restricted level
    assert shown["unclassified"] == ["region"]
    assert columns["region"]["unclassified"] is True and columns["region"]["level"] is None
    assert [c["unclassified"] for c in shown["columns"]] == [False, False, False, True]
    (listed,) = studio.ok("data", "list")
    assert listed["unclassified"] == 1 and listed["max_level"] == "restricted"
    assert listed["labels"] == ["financial", "pii"]
    human = studio.cli("data", "show", "shop/customers")
    assert human.code == 0 and "unclassified (enforced as restricted): region" in human.stdout

    (imported,) = events(studio, "data.import")
    assert imported["resource"] == "dataset:shop/customers@1"
    assert imported["details"]["unclassified"] == ["region"]
    classified = {
        e["details"]["column"]: e["details"]["to"] for e in events(studio, "data.classify")
    }
    assert classified == {
        "id": "internal",
        "email": "confidential+pii",
        "amount": "confidential+financial",
    }


# --- SQL propagation, a persisted dataset and its lineage ----------------------------------------
def test_sql_task_propagates_column_tags_and_persists_a_traceable_dataset(studio, module):
    data = run(studio, "sql", "production")
    assert data["state"] == "succeeded"
    assert task_of(data, "derive")["state"] == "succeeded"

    schema = recorded_schema(studio, data["id"], "derive")
    assert list(schema) == ["id", "email_hash", "doubled", "shout", "n"]
    assert schema["id"] == {"tag": "internal", "rule": "identity", "sources": ["t.id"]}
    # hashing keeps the label, marked pseudonymous
    assert schema["email_hash"] == {
        "tag": "confidential+pii(pseudonymous)",
        "rule": "masking",
        "sources": ["t.email"],
    }
    # arithmetic keeps the financial label; upper() keeps raw pii
    assert schema["doubled"] == {
        "tag": "confidential+financial",
        "rule": "transformation",
        "sources": ["t.amount"],
    }
    assert schema["shout"] == {
        "tag": "confidential+pii",
        "rule": "transformation",
        "sources": ["t.email"],
    }
    # count(*) has no source column: it inherits the union of the table's columns the task is
    # handed (region is never read by this query, so it is projected away and does not count)
    assert schema["n"] == {
        "tag": "confidential+financial+pii",
        "rule": "dataset",
        "sources": ["t.id", "t.email", "t.amount"],
    }
    # the run's --json output carries the same schema
    assert [c["name"] for c in data["output"]["v"]["schema"]] == list(schema)

    # audit: the sensitive columns read, the propagation result, the dataset written
    (read,) = events(studio, "data.read", data["id"])
    assert read["decision"] == "allow" and read["details"]["dataset"] == "shop/customers@1"
    assert read["details"]["columns"] == {
        "email": "confidential+pii",
        "amount": "confidential+financial",
    }
    (propagated,) = events(studio, "data.propagate", data["id"])
    assert propagated["details"]["domain"] == "production"
    assert propagated["details"]["columns"]["email_hash"] == "confidential+pii(pseudonymous)"
    assert propagated["details"]["columns"]["shout"] == "confidential+pii"
    assert "declassifiers" not in propagated["details"]
    (written,) = events(studio, "data.write")
    assert written["resource"] == "shop/derived@1" and written["decision"] == "allow"
    assert written["details"] == {"run": data["id"], "node": "derive", "domain": "production"}

    # the persisted dataset: domain production, the computed tags, the run as its source
    derived = studio.ok("data", "show", "shop/derived")
    assert derived["ref"] == "shop/derived@1" and derived["domain"] == "production"
    assert derived["rows"] == 3 and derived["unclassified"] == []
    assert derived["source"]["kind"] == "run" and derived["source"]["run_id"] == data["id"]
    assert derived["source"]["task"] == "derive" and derived["source"]["module"] == "shop/gov"
    assert {c["name"]: c["classification"] for c in derived["columns"]} == {
        n: s["tag"] for n, s in schema.items()
    }
    assert [d["ref"] for d in studio.ok("data", "list")] == ["shop/customers@1", "shop/derived@1"]

    # lineage: shop/derived.email_hash <- task derive <- shop/customers@1.email <- the import
    out = studio.ok("data", "lineage", "shop/derived", "--column", "email_hash")
    assert out["dataset"] == "shop/derived@1"
    (graph,) = out["columns"]
    nodes = {n["id"]: n for n in graph["nodes"]}
    upstream: dict[str, list[str]] = {}
    for edge in graph["edges"]:
        upstream.setdefault(edge["to"], []).append(edge["from"])
    root = nodes[graph["root"]]
    assert (root["dataset"], root["version"], root["column"]) == ("shop/derived", 1, "email_hash")
    (step,) = upstream[graph["root"]]
    assert nodes[step]["kind"] == "task" and nodes[step]["task"] == "derive"
    assert nodes[step]["run"] == data["id"] and nodes[step]["rule"] == "masking"
    (source,) = upstream[step]
    assert nodes[source]["kind"] == "dataset"
    assert (nodes[source]["dataset"], nodes[source]["version"], nodes[source]["column"]) == (
        "shop/customers",
        1,
        "email",
    )
    assert nodes[source]["classification"] == "confidential+pii"
    (imported,) = upstream[source]
    assert nodes[imported]["kind"] == "import" and nodes[imported]["file"] == "customers.csv"

    # n traces back to every column it was handed
    (graph,) = studio.ok("data", "lineage", "shop/derived", "--column", "n")["columns"]
    sources = {(n["dataset"], n["column"]) for n in graph["nodes"] if n["kind"] == "dataset"}
    assert sources == {
        ("shop/derived", "n"),
        ("shop/customers", "id"),
        ("shop/customers", "email"),
        ("shop/customers", "amount"),
    }


# --- Python tasks and models ---------------------------------------------------------------------
def test_python_task_and_a_model_trained_on_an_unclassified_column(studio, module, tmp_path):
    # a Python task that adds a column: passthrough keeps tags, the new column gets the union
    data = run(studio, "python", "production")
    assert data["state"] == "succeeded"
    schema = recorded_schema(studio, data["id"], "add_column")
    assert schema["id"] == {"tag": "internal", "rule": "passthrough", "sources": ["t.id"]}
    assert schema["amount"] == {
        "tag": "confidential+financial",
        "rule": "passthrough",
        "sources": ["t.amount"],
    }
    # the task read every column, region (unclassified) among them: the union is unclassified
    assert schema["score"] == {
        "tag": "unclassified+financial+pii",
        "rule": "union",
        "sources": ["t.id", "t.email", "t.amount", "t.region"],
    }
    stored = task_runs(studio, data["id"])["add_column"].output["v"]["schema"]
    score = Classification.from_dict(stored[2]["classification"])
    assert score.unclassified and score.effective_level == Level.RESTRICTED

    # classify= may raise a propagated column, never lower it: declaring a copy of the email
    # "internal" leaves it unclassified (region was read too) and pii
    data = run(studio, "relabelled", "production")
    contact = recorded_schema(studio, data["id"], "relabel")["contact"]
    assert contact["tag"] == "unclassified+financial+pii" and contact["rule"] == "declared"

    # a model trained on the unclassified column inherits it: unclassified, enforced restricted
    data = run(studio, "model", "production")
    assert data["state"] == "succeeded"
    ref = task_runs(studio, data["id"])["train"].output["v"]
    assert ref["format"] == "pickle" and ref["type"] == "Model"
    model = Classification.from_dict(ref["classification"])
    assert model.spec() == "unclassified+financial"
    assert model.effective_level == Level.RESTRICTED
    assert data["output"]["v"]["classification"] == ref["classification"]
    (read,) = events(studio, "data.read", data["id"])
    assert read["decision"] == "allow"
    assert read["details"]["columns"] == {
        "amount": "confidential+financial",
        "region": "unclassified",
    }

    # the same workflow in experimentation is denied before the task's code runs
    marker = tmp_path / "trained.txt"
    data = run(studio, "model", "experimentation", f"marker={marker}")
    assert data["state"] == "failed"
    train = task_of(data, "train")
    assert train["state"] == "failed" and train["attempt"] == 0
    error = train["error"]
    assert error.startswith("denied:")
    assert "shop/customers@1.region" in error  # the dataset and the column
    assert "unclassified" in error and "restricted" in error  # the tag
    assert "policy experimentation.clearance" in error  # the policy
    assert not marker.exists()
    assert task_runs(studio, data["id"])["train"].output is None
    (denied,) = events(studio, "data.read", data["id"])
    assert denied["decision"] == "deny" and denied["details"]["domain"] == "experimentation"
    (violation,) = denied["details"]["violations"]
    assert violation["dataset"] == "shop/customers@1" and violation["column"] == "region"
    assert violation["rule"] == "clearance"
    assert "data classify" in violation["hint"]


# --- read projection -----------------------------------------------------------------------------
def test_declared_columns_let_experimentation_read_what_it_may(studio, module):
    allowed = run(studio, "reads_projected", "experimentation")
    assert allowed["state"] == "succeeded"
    assert allowed["output_value"] == pytest.approx(37.75)
    (read,) = events(studio, "data.read", allowed["id"])
    assert read["decision"] == "allow"
    # only the confidential column is worth an audit event; email and region were never read
    assert read["details"]["columns"] == {"amount": "confidential+financial"}

    denied = run(studio, "reads_everything", "experimentation")
    assert denied["state"] == "failed"
    task = task_of(denied, "total_everything")
    assert task["error"].startswith("denied:") and task["attempt"] == 0
    assert "shop/customers@1.email" in task["error"] and "pii" in task["error"]
    assert "policy experimentation.denied_labels" in task["error"]
    assert "(and 1 more)" in task["error"]  # region, unclassified
    (event,) = events(studio, "data.read", denied["id"])
    assert event["decision"] == "deny"
    assert {(v["column"], v["rule"]) for v in event["details"]["violations"]} == {
        ("email", "label"),
        ("region", "clearance"),
    }


# --- cache hits across domains -------------------------------------------------------------------
def test_a_cache_hit_from_a_lower_clearance_domain_is_denied(studio, module, tmp_path):
    marker = tmp_path / "contacts.txt"
    first = run(studio, "contact_list", "production", f"marker={marker}")
    assert first["state"] == "succeeded" and marker.exists()
    schema = recorded_schema(studio, first["id"], "contacts")
    assert schema["email"]["tag"] == "confidential+pii" and schema["email"]["rule"] == "declared"
    assert schema["id"]["tag"] == "internal"

    # identical module, task and parameters: the same cache key, now from experimentation
    marker.unlink()
    second = run(studio, "contact_list", "experimentation", f"marker={marker}")
    assert second["state"] == "failed"
    task = task_of(second, "contacts")
    assert task["state"] == "failed" and task["cache_hit"] is False and task["attempt"] == 0
    assert task["error"].startswith("denied:")
    assert "cached output of contacts" in task["error"] and "email" in task["error"]
    assert "pii" in task["error"]
    assert not marker.exists()  # not recomputed either
    assert task_runs(studio, second["id"])["contacts"].output is None
    (denied,) = events(studio, "cache.read", second["id"])
    assert denied["decision"] == "deny" and denied["details"]["domain"] == "experimentation"
    assert denied["details"]["violations"][0]["column"] == "email"

    # in production the cached result is served
    third = run(studio, "contact_list", "production", f"marker={marker}")
    assert third["state"] == "succeeded"
    assert task_of(third, "contacts")["cache_hit"] is True and not marker.exists()


# --- writes --------------------------------------------------------------------------------------
def test_writes_are_refused_before_anything_is_stored(studio, module):
    # a SQL task over no table is generated data: unclassified (restricted) unless declared
    before = blobs(studio)
    data = run(studio, "literal_sql", "experimentation")
    assert data["state"] == "failed"
    task = task_of(data, "literal")
    assert task["error"].startswith("denied before writing:") and task["attempt"] == 1
    assert "email" in task["error"] and "unclassified" in task["error"]
    assert "classify=" in task["error"]  # the fix is named
    assert task_runs(studio, data["id"])["literal"].output is None
    assert blobs(studio) == before

    # adhoc may not persist a named dataset, even of internal data it may read
    before = blobs(studio)
    data = run(studio, "persist_ids", "adhoc")
    assert data["state"] == "failed"
    task = task_of(data, "ids")
    assert task["error"].startswith("denied before writing:")
    assert "shop/x" in task["error"] and "policy adhoc.may_persist" in task["error"]
    assert task["attempt"] == 1  # the read (internal ids) was allowed; the write was not
    assert task_runs(studio, data["id"])["ids"].output is None
    assert blobs(studio) == before
    assert [d["name"] for d in studio.ok("data", "list")] == ["shop/customers"]
    studio.fails("data", "show", "shop/x", code=3)

    # id is internal: an allowed read below confidential is not worth an audit event
    assert events(studio, "data.read", data["id"]) == []
    (denied,) = events(studio, "data.write", data["id"])
    assert denied["decision"] == "deny" and denied["details"]["domain"] == "adhoc"
    assert denied["details"]["error"] == task["error"]


# --- declassifiers -------------------------------------------------------------------------------
def test_a_declassifier_applies_to_the_approved_code_only(studio, module):
    studio.ok("user", "add", "carol", "--role", "steward")
    created = studio.ok(
        "data", "declassify", "shop/gov@1", "derive",
        "--column", "email_hash", "--to", "internal", "--remove-label", "pii",
        "--justification", "sha256 of the email is only used as a join key",
    )  # fmt: skip
    assert created["state"] == "pending" and created["created_by"] == "alice"
    # alice (an admin and the author) may not approve her own
    refused = studio.fails("data", "approve", created["id"], code=4)
    assert "second person" in refused.stderr
    assert studio.ok("data", "declassifiers", "--state", "pending")[0]["id"] == created["id"]
    approved = studio.ok("data", "approve", created["id"], user="carol")
    assert approved["state"] == "approved" and approved["approved_by"] == "carol"

    # a production run of shop/gov@1: email_hash is lowered, everything else is as propagated
    first = run(studio, "sql", "production")
    assert first["state"] == "succeeded"
    schema = recorded_schema(studio, first["id"], "derive")
    assert schema["email_hash"] == {
        "tag": "internal",
        "rule": "declassified",
        "sources": ["t.email"],
        "by": [created["id"]],
    }
    assert schema["shout"]["tag"] == "confidential+pii"  # not named by the declassifier
    (propagated,) = events(studio, "data.propagate", first["id"])
    assert propagated["details"]["columns"]["email_hash"] == "internal"
    assert propagated["details"]["declassifiers"] == [created["id"]]
    lowered = {c["name"]: c for c in studio.ok("data", "show", "shop/derived@1")["columns"]}
    assert lowered["email_hash"]["classification"] == "internal"

    # the task's code changes (shop/gov@2, promoted): the declassifier no longer applies
    pushed = push_promoted(studio, module, 2)
    assert pushed["ref"] == "shop/gov@2" and pushed["digest"] != created["code_digest"]
    second = run(studio, "sql", "production")
    assert second["state"] == "succeeded"
    assert task_of(second, "derive")["cache_hit"] is False
    schema = recorded_schema(studio, second["id"], "derive")
    assert schema["email_hash"] == {
        "tag": "confidential+pii(pseudonymous)",
        "rule": "masking",
        "sources": ["t.email"],
    }
    (propagated,) = events(studio, "data.propagate", second["id"])
    assert "declassifiers" not in propagated["details"]
    restored = {c["name"]: c for c in studio.ok("data", "show", "shop/derived@2")["columns"]}
    assert restored["email_hash"]["classification"] == "confidential+pii(pseudonymous)"

    actions = [(e["action"], e["actor"], e["decision"]) for e in events(studio, "declassifier")]
    assert actions == [
        ("declassifier.approve", "carol", "allow"),
        ("declassifier.approve", "alice", "deny"),
        ("declassifier.create", "alice", "allow"),
    ]


# --- formerly known gaps (fixed) -----------------------------------------------------------------
def test_values_passed_as_json_keep_their_tags(studio, module):
    """email_list hands raw emails to attach as a JSON list; attach's table must stay pii."""
    data = run(studio, "via_json", "production")
    assert data["state"] == "succeeded"
    contact = recorded_schema(studio, data["id"], "attach")["contact"]
    assert "pii" in contact["tag"], contact


def test_a_revoked_declassifier_stops_applying_to_cached_outputs(studio, module):
    studio.ok("user", "add", "carol", "--role", "steward")
    created = studio.ok(
        "data", "declassify", "shop/gov@1", "derive",
        "--column", "email_hash", "--to", "internal", "--remove-label", "pii",
        "--justification", "join key only",
    )  # fmt: skip
    studio.ok("data", "approve", created["id"], user="carol")
    first = run(studio, "sql", "production")
    assert recorded_schema(studio, first["id"], "derive")["email_hash"]["tag"] == "internal"
    studio.ok("data", "revoke", created["id"], user="carol")

    second = run(studio, "sql", "production")
    assert second["state"] == "succeeded"
    columns = {c["name"]: c for c in studio.ok("data", "show", "shop/derived@2")["columns"]}
    assert columns["email_hash"]["classification"] == "confidential+pii(pseudonymous)"


def test_persisting_a_dataset_needs_rights_in_its_namespace(studio, tmp_path):
    """persist= is checked when the run starts: the namespace must exist and the user must be
    its owner or maintainer (the same rule as `data import`); nothing is recorded otherwise."""
    flow = tmp_path / "persist" / "flow.py"
    flow.parent.mkdir()
    flow.write_text(
        "from mlstudio import task, workflow\n\n"
        "@task(persist='nowhere/table', classify={'*': 'internal'})\n"
        "def make() -> dict:\n    return {'a': 1}\n\n"
        "@task(persist='shop/table', classify={'*': 'internal'})\n"
        "def make_shop() -> dict:\n    return {'a': 1}\n\n"
        "@workflow\ndef missing() -> dict:\n    return make()\n\n"
        "@workflow\ndef shop() -> dict:\n    return make_shop()\n"
    )
    studio.ok("namespace", "create", "shop")
    studio.ok("user", "add", "bob")
    studio.ok("user", "grant", "bob", "runner", "--domain", "experimentation")
    refused = studio.fails("run", f"{flow}:missing", code=3)
    assert "namespace nowhere does not exist" in refused.stderr
    denied = studio.fails("run", f"{flow}:shop", user="bob", code=4)
    assert "persist dataset shop/table" in denied.stderr
    assert studio.ok("runs", "list") == []
    studio.ok("namespace", "grant", "shop", "bob", "maintainer")
    allowed = studio.cli("run", f"{flow}:shop", "--json", user="bob")
    assert allowed.code == 0, allowed.stderr
