"""Declassifiers (two-person rule, bound to code) and column lineage, on SQLite and Postgres."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstudio.core.clock import utcnow
from mlstudio.governance.classification import Classification, Level
from mlstudio.governance.declassify import apply_declassifiers

TASKS = '''"""Tasks of churn/features."""

from mlstudio import task


@task
def segment_counts(values: list[float]) -> list[float]:
    """Counts per segment: no row-level data survives."""
    return [float(len(values))]
'''


def push(studio, root: Path, extra: str = "") -> dict:
    root.mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text(
        '[module]\nname = "churn/features"\ndescription = "features"\nowners = ["alice"]\n'
    )
    (root / "tasks.py").write_text(TASKS + extra)
    return studio.ok("module", "push", root, "--no-tests")


@pytest.fixture
def module(studio, tmp_path: Path) -> Path:
    """churn/features@1 pushed; stewards carol and dave; plain user bob."""
    studio.ok("namespace", "create", "churn")
    studio.ok("user", "add", "bob")
    studio.ok("user", "add", "carol", "--role", "steward")
    studio.ok("user", "add", "dave", "--role", "steward")
    root = tmp_path / "features"
    assert push(studio, root)["ref"] == "churn/features@1"
    return root


def declassify(studio, *extra: str, user: str = "carol", ref: str = "churn/features@1") -> dict:
    return studio.ok(
        "data",
        "declassify",
        ref,
        "segment_counts",
        "--column",
        "count",
        "--to",
        "internal",
        "--remove-label",
        "pii",
        "--justification",
        "aggregates of at least 50 customers",
        *extra,
        user=user,
    )


def test_create_and_approve_needs_a_second_person(studio, module):
    created = declassify(studio)
    assert created["state"] == "pending"
    assert created["id"].startswith("dcl_")
    assert created["module"] == "churn/features"
    assert created["task"] == "segment_counts"
    assert created["columns"] == ["count"]
    assert created["lower_to"] == "internal" and created["remove_labels"] == ["pii"]
    assert created["created_by"] == "carol" and created["approved_by"] is None
    digest = studio.ok("module", "show", "churn/features@1")["selected"]["digest"]
    assert created["code_digest"] == digest

    # the author may not approve their own declassifier; the refusal is audited
    result = studio.fails("data", "approve", created["id"], user="carol", code=4)
    assert "second person" in result.stderr
    assert studio.ok("data", "declassifiers", "--state", "pending")[0]["id"] == created["id"]
    denied = [e for e in studio.ok("audit", "--action", "declassifier") if e["decision"] == "deny"]
    assert len(denied) == 1 and denied[0]["actor"] == "carol"
    # neither may a user without the steward role
    studio.fails("data", "approve", created["id"], user="bob", code=4)

    approved = studio.ok("data", "approve", created["id"], user="dave")
    assert approved["state"] == "approved" and approved["approved_by"] == "dave"
    assert approved["approved_at"]
    assert studio.ok("data", "declassifiers", "--state", "pending") == []
    assert [d["id"] for d in studio.ok("data", "declassifiers", "--state", "approved")] == [
        created["id"]
    ]
    # approving twice is a state error
    studio.fails("data", "approve", created["id"], user="alice", code=5)

    actions = [e["action"] for e in studio.ok("audit", "--action", "declassifier")]
    assert actions.count("declassifier.create") == 1
    assert actions.count("declassifier.approve") == 3  # carol's and bob's denials, dave's allow


def test_admin_approves_and_revoke_stops_it(studio, module):
    created = declassify(studio, ref="churn/features:latestAlpha", user="alice")
    studio.fails("data", "approve", created["id"], user="alice", code=4)  # admin, but the author
    assert studio.ok("data", "approve", created["id"], user="carol")["state"] == "approved"
    revoked = studio.ok("data", "revoke", created["id"], user="dave")
    assert revoked["state"] == "revoked"
    studio.fails("data", "revoke", created["id"], code=5)
    studio.fails("data", "approve", created["id"], user="dave", code=5)
    second = declassify(studio)
    studio.fails("data", "revoke", second["id"], user="bob", code=4)
    assert studio.ok("data", "revoke", second["id"], user="carol")["state"] == "revoked"
    assert len(studio.ok("data", "declassifiers", "--state", "revoked")) == 2
    assert len(studio.ok("data", "declassifiers")) == 2


@pytest.mark.parametrize(
    ("args", "user", "code", "needle"),
    [
        ((), "bob", 4, "steward"),
        (("churn/features@1", "nope", "--column", "c", "--to", "public"), "carol", 3, "no task"),
        (("churn/features@9", "segment_counts", "--column", "c", "--to", "public"), "carol", 3, ""),
        (("churn/other@1", "segment_counts", "--column", "c", "--to", "public"), "carol", 3, ""),
        (("churn/features@1", "segment_counts", "--to", "public"), "carol", 2, "--column"),
        (("churn/features@1", "segment_counts", "--column", "c"), "carol", 2, "--to"),
        (("churn/features@1", "segment_counts", "--column", "c", "--to", "top"), "carol", 2, ""),
        (
            ("churn/features@1", "segment_counts", "--column", "c", "--remove-label", "P I I"),
            "carol",
            2,
            "label",
        ),
        (("churn/features@x", "segment_counts", "--column", "c", "--to", "public"), "carol", 2, ""),
    ],
)
def test_bad_declassifiers_change_nothing(studio, module, args, user, code, needle):
    argv = list(args) or ["churn/features@1", "segment_counts", "--column", "c", "--to", "public"]
    justification = ["--justification", "why"]
    result = studio.fails("data", "declassify", *argv, *justification, user=user, code=code)
    assert needle in result.stderr
    assert studio.ok("data", "declassifiers") == []


def test_justification_is_required(studio, module):
    result = studio.fails(
        "data", "declassify", "churn/features@1", "segment_counts", "--column", "c", "--to",
        "public", user="carol", code=2,
    )  # fmt: skip
    assert "justification" in result.stderr
    studio.fails("data", "approve", "dcl_nothing", user="dave", code=3)
    studio.fails("data", "declassifiers", "--state", "done", code=2)


# --- apply_declassifiers -------------------------------------------------------------------------
def records(studio, ids: list[str]):
    p = studio.platform()
    try:
        return [p.declassifiers.get(i) for i in ids]
    finally:
        p.close()


def test_apply_only_for_the_approved_code_and_never_raise(studio, module):
    v1 = declassify(studio)
    studio.ok("data", "approve", v1["id"], user="dave")
    pending = declassify(studio)  # never approved
    changed = push(studio, module, extra="\n# a changed task\n")
    assert changed["ref"] == "churn/features@2"
    v2_digest = changed["digest"]
    assert v2_digest != v1["code_digest"]
    recs = records(studio, [v1["id"], pending["id"]])

    columns = {
        "count": Classification(Level.RESTRICTED, {"pii", "financial"}, {"pii"}),
        "segment": Classification(Level.CONFIDENTIAL, {"pii"}),
    }
    # the code it was approved for: count is lowered, its pii removed; segment is untouched
    out, applied = apply_declassifiers(
        "churn/features", "segment_counts", v1["code_digest"], columns, recs
    )
    assert applied == [v1["id"]]
    assert out["count"] == Classification(Level.INTERNAL, {"financial"})
    assert out["segment"] == columns["segment"]
    assert list(out) == ["count", "segment"]
    assert columns["count"].level == Level.RESTRICTED  # the input is not modified

    # the task's code changed (new module version, new digest): the declassifier does not apply
    out, applied = apply_declassifiers("churn/features", "segment_counts", v2_digest, columns, recs)
    assert applied == [] and out == columns
    # another task or module: not applied
    assert apply_declassifiers("churn/features", "other", v1["code_digest"], columns, recs)[1] == []
    assert (
        apply_declassifiers("churn/x", "segment_counts", v1["code_digest"], columns, recs)[1] == []
    )

    # never raises: a public column stays public (nothing to remove, so not applied)
    low = {"count": Classification(Level.PUBLIC)}
    out, applied = apply_declassifiers(
        "churn/features", "segment_counts", v1["code_digest"], low, recs
    )
    assert out == low and applied == []
    # an unclassified column (enforced as restricted) is lowered to the declassifier's level
    out, _ = apply_declassifiers(
        "churn/features",
        "segment_counts",
        v1["code_digest"],
        {"count": Classification(None, {"pii"})},
        recs,
    )
    assert out["count"] == Classification(Level.INTERNAL)

    # after revocation it stops applying
    studio.ok("data", "revoke", v1["id"], user="carol")
    recs = records(studio, [v1["id"]])
    assert apply_declassifiers(
        "churn/features", "segment_counts", v1["code_digest"], columns, recs
    ) == (columns, [])


# --- lineage -------------------------------------------------------------------------------------
def test_lineage_of_an_imported_dataset(studio, module, tmp_path):
    csv = tmp_path / "customers.csv"
    csv.write_text("id,email\n1,a@x.com\n")
    studio.ok(
        "data", "import", csv, "--name", "churn/customers", "--classify", "email=confidential+pii"
    )
    out = studio.ok("data", "lineage", "churn/customers", "--column", "email")
    assert out["dataset"] == "churn/customers@1"
    (graph,) = out["columns"]
    assert graph["column"] == "email"
    nodes = {n["id"]: n for n in graph["nodes"]}
    root = nodes[graph["root"]]
    assert root["kind"] == "dataset" and root["column"] == "email"
    assert root["classification"] == "confidential+pii" and root["rule"] == "manual"
    (imp,) = [n for n in graph["nodes"] if n["kind"] == "import"]
    assert imp["file"] == "customers.csv" and imp["format"] == "csv" and imp["by"] == "alice"
    assert graph["edges"] == [{"from": imp["id"], "to": root["id"]}]

    everything = studio.ok("data", "lineage", "churn/customers@1")
    assert [g["column"] for g in everything["columns"]] == ["id", "email"]
    result = studio.fails("data", "lineage", "churn/customers", "--column", "phone", code=2)
    assert "id, email" in result.stderr
    studio.fails("data", "lineage", "churn/nothing", code=3)
    assert studio.cli("data", "lineage", "churn/customers").code == 0


def test_lineage_through_a_run(studio, module, tmp_path):
    """A dataset a run wrote: provenance leads through task outputs back to the import."""
    csv = tmp_path / "customers.csv"
    csv.write_text("id,email\n1,a@x.com\n")
    studio.ok(
        "data", "import", csv, "--name", "churn/customers", "--classify", "email=confidential+pii"
    )
    tag = {"level": "confidential", "labels": ["pii"], "pseudonymous": ["pii"]}
    run_id = "run_lineage1"
    plan = {
        "workflow": "churn/features/wf",
        "params": {},
        "nodes": [
            {
                "id": "n1",
                "kind": "task",
                "task": "hash_emails",
                "inputs": {"customers": {"ds": {"name": "churn/customers", "version": 1}}},
            },
            {"id": "n2", "kind": "task", "task": "segment_counts", "inputs": {"df": {"r": "n1", "p": []}}},
        ],
        "output": {"r": "n2", "p": []},
        "code": {},
    }  # fmt: skip

    def output(rule: str, sources: list[str], node: str) -> dict:
        prov = {"rule": rule, "sources": sources, "run_id": run_id, "node": node}
        schema = [
            {"name": "email_hash", "type": "string", "classification": tag, "provenance": prov}
        ]
        return {"v": {"digest": "0" * 64, "format": "parquet", "type": "Dataset", "size": 1, "schema": schema}}  # fmt: skip

    p = studio.platform()
    try:
        now = utcnow()
        with p.store.transaction() as uow:
            uow.runs.create_run(
                {
                    "id": run_id, "workflow": "churn/features/wf", "namespace": "churn",
                    "state": "succeeded", "params": {}, "plan": plan, "lock": {},
                    "domain": "production", "trigger": "cli", "executor": "local",
                    "no_cache": False, "fail_fast": False, "created_by": "alice",
                    "created_at": now, "priority": 0, "cancel_requested": False,
                }
            )  # fmt: skip
            base = {"state": "succeeded", "module": "churn/features@1", "attempt": 1,
                    "max_attempts": 1, "cache_hit": False}  # fmt: skip
            uow.runs.insert_task_runs(
                [
                    {**base, "run_id": run_id, "node_id": "n1", "task": "hash_emails",
                     "output": output("masking", ["customers.email"], "n1")},
                    {**base, "run_id": run_id, "node_id": "n2", "task": "segment_counts",
                     "output": output("passthrough", ["df.email_hash"], "n2")},
                ]
            )  # fmt: skip
            prov = {"rule": "passthrough", "sources": ["df.email_hash"], "run_id": run_id, "node": "n2"}  # fmt: skip
            uow.datasets.create_version(
                {
                    "namespace": "churn", "full_name": "churn/segments", "digest": "0" * 64,
                    "domain": "production", "num_rows": 1, "size_bytes": 1,
                    "columns": [{"name": "email_hash", "type": "string", "classification": tag, "provenance": prov}],
                    "source": {"kind": "run", "run_id": run_id, "node": "n2",
                               "task": "segment_counts", "module": "churn/features@1"},
                    "created_by": "alice",
                }
            )  # fmt: skip
    finally:
        p.close()

    # a steward's raise keeps the column's lineage
    studio.ok("data", "classify", "churn/segments", "email_hash=restricted+pii(pseudonymous)")
    out = studio.ok("data", "lineage", "churn/segments", "--column", "email_hash")
    (graph,) = out["columns"]
    nodes = {n["id"]: n for n in graph["nodes"]}
    up = {}
    for edge in graph["edges"]:
        up.setdefault(edge["to"], []).append(edge["from"])

    root = graph["root"]
    assert nodes[root]["rule"] == "manual"
    (n2,) = up[root]
    assert nodes[n2]["kind"] == "task" and nodes[n2]["node"] == "n2"
    assert nodes[n2]["task"] == "segment_counts" and nodes[n2]["run"] == run_id
    (n1,) = up[n2]
    assert nodes[n1]["node"] == "n1" and nodes[n1]["rule"] == "masking"
    assert nodes[n1]["classification"] == "confidential+pii(pseudonymous)"
    (source,) = up[n1]
    assert nodes[source]["kind"] == "dataset"
    assert (nodes[source]["dataset"], nodes[source]["version"], nodes[source]["column"]) == (
        "churn/customers",
        1,
        "email",
    )
    (imp,) = up[source]
    assert nodes[imp]["kind"] == "import"
    assert studio.cli("data", "lineage", "churn/segments").code == 0
