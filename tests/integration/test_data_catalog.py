"""The dataset catalog through the CLI (import, show, classify, export), on SQLite and Postgres.

Every test asserts on ``--json`` output and checks that refused commands change nothing: no
dataset version, no artifact, no file, no audit event other than the recorded denial.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

CSV = "id,email,plan,spend\n1,a@x.com,pro,10.5\n2,b@y.com,free,0\n3,c@z.org,pro,99\n"


@pytest.fixture
def churn(studio, tmp_path: Path) -> Path:
    """Namespace churn (alice owns it), users bob (plain) and carol (steward), a CSV file."""
    studio.ok("namespace", "create", "churn")
    studio.ok("user", "add", "bob")
    studio.ok("user", "add", "carol", "--role", "steward")
    path = tmp_path / "customers.csv"
    path.write_text(CSV)
    return path


def columns(shown: dict) -> dict[str, dict]:
    return {c["name"]: c for c in shown["columns"]}


def artifact_files(studio) -> set[Path]:
    root = studio.home / "artifacts"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def audit(studio, action: str) -> list[dict]:
    return studio.ok("audit", "--action", action, "--limit", "1000")


CLASSIFY_ALL = (
    "--classify",
    "id=internal",
    "--classify",
    "email=confidential+pii",
    "--classify",
    "plan=internal",
    "--classify",
    "spend=confidential+financial",
)


# --- import ------------------------------------------------------------------------------------
def test_import_csv_with_classification_and_unclassified_columns(studio, churn):
    shown = studio.ok(
        "data",
        "import",
        churn,
        "--name",
        "churn/customers",
        "--classify",
        "email=confidential+pii",
        "--classify",
        "plan=internal",
    )
    assert shown["ref"] == "churn/customers@1"
    assert shown["domain"] == "production"
    assert shown["rows"] == 3
    assert shown["source"] == {"kind": "import", "file": "customers.csv", "format": "csv"}
    cols = columns(shown)
    assert list(cols) == ["id", "email", "plan", "spend"]
    assert cols["email"]["level"] == "confidential"
    assert cols["email"]["labels"] == ["pii"]
    assert cols["email"]["pseudonymous"] == []
    assert cols["email"]["provenance"]["rule"] == "manual"
    assert cols["email"]["provenance"]["actor"] == "alice"
    assert cols["plan"]["classification"] == "internal"
    assert cols["id"]["type"] == "int64" and cols["spend"]["type"] == "double"
    # unclassified columns: reported separately and enforced as restricted
    assert shown["unclassified"] == ["id", "spend"]
    assert cols["spend"]["level"] is None
    assert cols["spend"]["effective_level"] == "restricted"
    assert cols["spend"]["provenance"] == {"rule": "unclassified"}

    # the Parquet blob carries each column's classification in its field metadata
    p = studio.platform()
    try:
        table = pq.read_table(io.BytesIO(p.cas.get(shown["digest"])))
    finally:
        p.close()
    meta = {f.name: f.metadata[b"mlstudio.classification"] for f in table.schema}
    assert b'"confidential"' in meta["email"] and b'"pii"' in meta["email"]
    assert b'"level": null' in meta["spend"]

    events = audit(studio, "data.")
    assert [e["action"] for e in events].count("data.import") == 1
    classified = sorted(e["details"]["column"] for e in events if e["action"] == "data.classify")
    assert classified == ["email", "plan"]
    assert all(e["resource"] == "dataset:churn/customers@1" for e in events)


def test_import_parquet_and_new_versions(studio, churn, tmp_path):
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"user": ["a", "b"], "score": [0.5, 0.7]}), path)
    first = studio.ok(
        "data",
        "import",
        path,
        "--name",
        "churn/scores",
        "--domain",
        "experimentation",
        "--classify",
        "user=internal",
        "--classify",
        "score=public",
    )
    assert first["ref"] == "churn/scores@1"
    assert first["source"]["format"] == "parquet"
    assert first["domain"] == "experimentation"
    assert first["unclassified"] == []
    second = studio.ok(
        "data", "import", path, "--name", "churn/scores", "--classify", "user=internal"
    )
    assert second["ref"] == "churn/scores@2" and second["versions"] == [1, 2]
    assert second["unclassified"] == ["score"]
    listed = studio.ok("data", "list")
    assert [(d["ref"], d["unclassified"]) for d in listed] == [("churn/scores@2", 1)]
    assert studio.ok("data", "list", "--namespace", "other") == []
    assert [d["name"] for d in studio.ok("data", "list", "--search", "sco")] == ["churn/scores"]
    assert studio.ok("data", "show", "churn/scores@1")["unclassified"] == []


def test_unclassified_is_enforced_as_restricted_on_import(studio, churn):
    before = artifact_files(studio)
    result = studio.fails(
        "data",
        "import",
        churn,
        "--name",
        "churn/customers",
        "--domain",
        "experimentation",
        "--classify",
        "email=confidential",
        code=4,
    )
    assert result.json["error"]["code"] == "policy_violation"
    assert "unclassified" in result.stderr and "restricted" in result.stderr
    assert "experimentation.clearance" in result.stderr
    details = result.json["error"]["details"]
    assert sorted(d["column"] for d in details) == ["id", "plan", "spend"]
    # refused before anything was stored; the denial itself is audited
    assert studio.ok("data", "list") == []
    assert artifact_files(studio) == before
    denied = [e for e in audit(studio, "data.import") if e["decision"] == "deny"]
    assert len(denied) == 1 and denied[0]["details"]["domain"] == "experimentation"
    assert audit(studio, "data.classify") == []

    # production's clearance is restricted: the same file imports there
    shown = studio.ok("data", "import", churn, "--name", "churn/customers")
    assert shown["unclassified"] == ["id", "email", "plan", "spend"]

    # and into experimentation once every column is classified within its clearance, no pii
    ok = studio.ok(
        "data",
        "import",
        churn,
        "--name",
        "churn/customers-exp",
        "--domain",
        "experimentation",
        "--classify",
        "id=public",
        "--classify",
        "email=confidential+pii(pseudonymous)",
        "--classify",
        "plan=internal",
        "--classify",
        "spend=confidential",
    )
    assert columns(ok)["email"]["pseudonymous"] == ["pii"]
    # identifying pii may not be held in experimentation
    result = studio.fails(
        "data",
        "import",
        churn,
        "--name",
        "churn/customers-exp",
        "--domain",
        "experimentation",
        *CLASSIFY_ALL,
        code=4,
    )
    assert "label pii" in result.stderr
    assert studio.ok("data", "show", "churn/customers-exp")["versions"] == [1]


def test_adhoc_may_not_persist_named_datasets(studio, churn):
    result = studio.fails(
        "data",
        "import",
        churn,
        "--name",
        "churn/customers",
        "--domain",
        "adhoc",
        "--classify",
        "id=public",
        "--classify",
        "email=public",
        "--classify",
        "plan=public",
        "--classify",
        "spend=public",
        code=4,
    )
    assert "adhoc.may_persist" in result.stderr
    assert studio.ok("data", "list") == []


def test_import_needs_namespace_rights_and_steward_for_classify(studio, churn):
    result = studio.fails("data", "import", churn, "--name", "churn/customers", user="bob", code=4)
    assert "namespace churn" in result.stderr and "maintainer" in result.stderr
    studio.ok("namespace", "grant", "churn", "bob", "maintainer")
    result = studio.fails(
        "data",
        "import",
        churn,
        "--name",
        "churn/customers",
        "--classify",
        "email=confidential+pii",
        user="bob",
        code=4,
    )
    assert "steward" in result.stderr
    assert studio.ok("data", "list") == []
    # a maintainer may import unclassified data into production
    shown = studio.ok("data", "import", churn, "--name", "churn/customers", user="bob")
    assert shown["created_by"] == "bob" and len(shown["unclassified"]) == 4


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("--name", "churn/customers", "FILE.txt"), 2, ".csv or .parquet"),
        (("--name", "churn/customers", "missing.csv"), 3, "does not exist"),
        (("--name", "churn/customers", "--classify", "email=secret"), 2, "unknown level"),
        (("--name", "churn/customers", "--classify", "email"), 2, "COL=LEVEL"),
        (("--name", "churn/customers", "--classify", "mail=public"), 2, "id, email, plan, spend"),
        (("--name", "sales/customers"), 3, "namespace sales does not exist"),
        (("--name", "Churn/Customers"), 2, "invalid dataset name"),
        (("--name", "customers"), 2, "invalid dataset name"),
        (("--name", "churn/customers", "--domain", "staging"), 3, "domain staging"),
        (
            ("--name", "churn/customers", "--classify", "id=public", "--classify", "id=internal"),
            2,
            "twice",
        ),
    ],
)
def test_bad_import_inputs_change_nothing(studio, churn, tmp_path, args, code, needle):
    (tmp_path / "FILE.txt").write_text(CSV)
    before_files = artifact_files(studio)
    before_audit = len(audit(studio, ""))
    argv = []
    file = churn
    for arg in args:
        if arg in ("FILE.txt", "missing.csv"):
            file = tmp_path / arg
        else:
            argv.append(arg)
    result = studio.fails("data", "import", file, *argv, code=code)
    assert needle in result.stderr, result.stderr
    assert studio.ok("data", "list") == []
    assert artifact_files(studio) == before_files
    assert len(audit(studio, "")) == before_audit


def test_unreadable_file_is_a_clear_error(studio, churn, tmp_path):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"not parquet at all")
    result = studio.fails("data", "import", bad, "--name", "churn/broken", code=2)
    assert "cannot read broken.parquet as parquet" in result.stderr
    assert studio.ok("data", "list") == []


# --- show ----------------------------------------------------------------------------------------
def test_show_versions_and_unknown_refs(studio, churn):
    studio.ok("data", "import", churn, "--name", "churn/customers", *CLASSIFY_ALL)
    studio.ok("data", "import", churn, "--name", "churn/customers")
    assert studio.ok("data", "show", "churn/customers")["version"] == 2
    v1 = studio.ok("data", "show", "churn/customers@1")
    assert v1["version"] == 1 and v1["unclassified"] == [] and v1["versions"] == [1, 2]
    assert columns(v1)["spend"]["labels"] == ["financial"]
    result = studio.fails("data", "show", "churn/customers@7", code=3)
    assert "versions 1..2" in result.stderr
    studio.fails("data", "show", "churn/nothing", code=3)
    studio.fails("data", "show", "churn/customers@x", code=2)
    # the human form prints the unclassified backlog
    text = studio.cli("data", "show", "churn/customers")
    assert text.code == 0 and "unclassified (enforced as restricted)" in text.stdout


# --- classify ------------------------------------------------------------------------------------
def test_classify_raises_and_refuses_to_lower(studio, churn):
    studio.ok(
        "data",
        "import",
        churn,
        "--name",
        "churn/customers",
        "--classify",
        "email=confidential+pii",
        "--classify",
        "plan=internal",
    )
    # first classification of an unclassified column, and a raise, by a steward
    out = studio.ok(
        "data", "classify", "churn/customers", "spend=internal", "plan=confidential", user="carol"
    )
    assert sorted(c["column"] for c in out["changes"]) == ["plan", "spend"]
    cols = columns(out)
    assert cols["plan"]["classification"] == "confidential"
    assert cols["plan"]["provenance"]["actor"] == "carol"
    assert out["unclassified"] == ["id"]
    events = [e for e in audit(studio, "data.classify") if e["actor"] == "carol"]
    assert {(e["details"]["column"], e["details"]["from"], e["details"]["to"]) for e in events} == {
        ("spend", "unclassified", "internal"),
        ("plan", "internal", "confidential"),
    }

    before = studio.ok("data", "show", "churn/customers")
    # lowering the level, dropping a label, or going back to unclassified: refused
    for spec in ("email=public+pii", "email=confidential", "plan=internal", "plan=unclassified"):
        result = studio.fails("data", "classify", "churn/customers", spec, user="carol", code=4)
        assert "mlstudio data declassify" in result.stderr, result.stderr
    # hashing pii into pseudonymous form is also a lowering
    studio.fails(
        "data", "classify", "churn/customers", "email=confidential+pii(pseudonymous)", code=4
    )
    # one bad spec in a batch: nothing of the batch is applied
    studio.fails("data", "classify", "churn/customers", "id=public", "email=public", code=4)
    assert studio.ok("data", "show", "churn/customers") == before

    # not a steward
    result = studio.fails(
        "data", "classify", "churn/customers", "id=restricted", user="bob", code=4
    )
    assert "steward" in result.stderr
    # bad inputs
    result = studio.fails("data", "classify", "churn/customers", "nope=public", code=2)
    assert "id, email, plan, spend" in result.stderr
    studio.fails("data", "classify", "churn/customers", "id=top", code=2)
    studio.fails("data", "classify", "churn/missing", "id=public", code=3)
    assert studio.ok("data", "show", "churn/customers") == before

    # raising to the same or a superset works; labels add up
    out = studio.ok("data", "classify", "churn/customers", "email=restricted+pii+contact")
    assert columns(out)["email"]["labels"] == ["contact", "pii"]


def test_classify_a_given_version_only(studio, churn):
    studio.ok("data", "import", churn, "--name", "churn/customers")
    studio.ok("data", "import", churn, "--name", "churn/customers")
    studio.ok("data", "classify", "churn/customers@1", "id=public")
    assert studio.ok("data", "show", "churn/customers@1")["unclassified"] == [
        "email",
        "plan",
        "spend",
    ]
    assert len(studio.ok("data", "show", "churn/customers@2")["unclassified"]) == 4


# --- export --------------------------------------------------------------------------------------
def test_export_allowed_and_denied(studio, churn, tmp_path):
    studio.ok("data", "import", churn, "--name", "churn/customers", *CLASSIFY_ALL)
    studio.ok("user", "grant", "bob", "viewer", "--domain", "experimentation")
    target = tmp_path / "out" / "customers.csv"
    target.parent.mkdir()

    # identifying pii may not leave under experimentation
    result = studio.fails("data", "export", "churn/customers", target, user="bob", code=4)
    message = result.stderr
    for needle in ("churn/customers", "email", "pii", "experimentation.denied_labels"):
        assert needle in message, message
    assert result.json["error"]["code"] == "policy_violation"
    assert not target.exists() and list(target.parent.iterdir()) == []
    denied = [e for e in audit(studio, "data.export") if e["decision"] == "deny"]
    assert len(denied) == 1 and denied[0]["actor"] == "bob"
    assert denied[0]["details"]["violations"][0]["column"] == "email"

    # without the pii column's label the export goes through (and is audited: confidential data)
    studio.ok("data", "import", churn, "--name", "churn/customers", *CLASSIFY_ALL[:2])
    studio.ok(
        "data",
        "classify",
        "churn/customers",
        "email=confidential+pii(pseudonymous)",
        "plan=internal",
        "spend=confidential",
    )
    out = studio.ok("data", "export", "churn/customers", target, user="bob")
    assert out["rows"] == 3 and out["format"] == "csv" and out["domain"] == "experimentation"
    assert target.read_text().splitlines()[0] == '"id","email","plan","spend"'
    allowed = [e for e in audit(studio, "data.export") if e["decision"] == "allow"]
    assert len(allowed) == 1
    assert allowed[0]["details"]["columns"] == ["email", "spend"]

    # parquet exports carry the current classification in the field metadata
    pq_target = tmp_path / "out" / "customers.parquet"
    studio.ok("data", "export", "churn/customers@2", pq_target, user="bob")
    schema = pq.read_schema(pq_target)
    assert b"pseudonymous" in schema.field("email").metadata[b"mlstudio.classification"]

    # production may read everything of production; alice is admin
    full = tmp_path / "out" / "full.parquet"
    studio.ok("data", "export", "churn/customers@1", full, "--domain", "production")
    assert pq.read_table(full).num_rows == 3


def test_export_needs_a_domain_role(studio, churn, tmp_path):
    studio.ok(
        "data",
        "import",
        churn,
        "--name",
        "churn/public",
        "--classify",
        "id=public",
        "--classify",
        "email=public",
        "--classify",
        "plan=public",
        "--classify",
        "spend=public",
    )
    target = tmp_path / "public.csv"
    result = studio.fails("data", "export", "churn/public", target, user="bob", code=4)
    assert "viewer or runner" in result.stderr and "experimentation" in result.stderr
    assert not target.exists()
    [denied] = audit(studio, "data.export")  # the refusal is audited
    assert (denied["actor"], denied["decision"]) == ("bob", "deny")
    assert (
        denied["resource"] == "dataset:churn/public@1" and "viewer" in denied["details"]["reason"]
    )
    studio.ok("user", "grant", "bob", "runner", "--domain", "experimentation")
    studio.ok("data", "export", "churn/public", target, user="bob")
    assert target.exists()
    # a public export is not a sensitive read: nothing more to audit
    assert audit(studio, "data.export") == [denied]
    # a viewer of experimentation is not a viewer of production
    studio.fails(
        "data", "export", "churn/public", target, "--domain", "production", user="bob", code=4
    )


def test_bad_export_inputs(studio, churn, tmp_path):
    studio.ok("data", "import", churn, "--name", "churn/customers")
    studio.fails("data", "export", "churn/customers", tmp_path / "x.json", code=2)
    studio.fails("data", "export", "churn/customers", tmp_path / "no" / "x.csv", code=3)
    studio.fails("data", "export", "churn/nothing", tmp_path / "x.csv", code=3)
    studio.fails(
        "data", "export", "churn/customers", tmp_path / "x.csv", "--domain", "nope", code=3
    )
    # unclassified columns are restricted: experimentation may not read them
    result = studio.fails("data", "export", "churn/customers", tmp_path / "x.csv", code=4)
    assert "unclassified" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv", "home"]
