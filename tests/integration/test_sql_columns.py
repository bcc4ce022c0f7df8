"""SQL tasks that match columns by name or position, or name no column, through real runs on
SQLite and on Postgres: what the task is handed, what it returns, how the output is tagged.

shop/customers@1 has id (internal), email (confidential+pii), amount (confidential+financial)
and region (unclassified). Experimentation may not read pii or unclassified columns.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstudio.governance.classification import Classification
from mlstudio.testing.flows import task_of

CSV = "id,email,amount,region\n1,a@x.com,10.5,north\n2,b@y.com,20.0,south\n3,c@z.com,7.25,north\n"

QUERIES = {
    "count": "SELECT count(*) AS n FROM t",
    "count_where": "SELECT count(*) AS n FROM t WHERE amount > 8",
    "exclude": "SELECT * EXCLUDE (email, region) FROM t",
    "columns_regex": "SELECT COLUMNS('^(id|amount)$') FROM t ORDER BY id",
    "columns_list": "SELECT max(COLUMNS(['id', 'amount'])) FROM t",
    "positional": "SELECT #3 AS total, #1 FROM t WHERE #1 > 0 ORDER BY #2",
    "by_name": "SELECT amount, id FROM t UNION ALL BY NAME SELECT email AS id, amount FROM t",
}


def write_flow(folder: Path) -> Path:
    lines = ["from mlstudio import dataset, sql_task, workflow", ""]
    for name, sql in QUERIES.items():
        lines += [
            f"{name} = sql_task({name!r}, {sql!r})",
            "",
            "@workflow",
            f"def run_{name}():",
            f"    return {name}(t=dataset('shop/customers'))",
            "",
        ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flow.py").write_text("\n".join(lines))
    return folder / "flow.py"


@pytest.fixture
def flow(studio, tmp_path: Path) -> Path:
    studio.ok("namespace", "create", "shop")
    csv = tmp_path / "customers.csv"
    csv.write_text(CSV)
    studio.ok(
        "data", "import", csv, "--name", "shop/customers",
        "--classify", "email=confidential+pii",
        "--classify", "amount=confidential+financial",
        "--classify", "id=internal",
    )  # fmt: skip
    # working copies may run in production too (it reads everything)
    studio.ok("domain", "set", "production", "--no-promoted-only")
    return write_flow(tmp_path / "wf")


def run(studio, flow: Path, name: str, domain: str) -> dict:
    result = studio.cli("run", f"{flow}:run_{name}", "--domain", domain, "--json")
    data = result.json
    assert result.code == (0 if data["state"] == "succeeded" else 1), result.stderr
    return data


def schema_of(data: dict) -> dict[str, dict]:
    return {
        c["name"]: {
            "tag": Classification.from_dict(c["classification"]).spec(),
            "rule": c["provenance"]["rule"],
            "sources": c["provenance"]["sources"],
        }
        for c in data["output"]["v"]["schema"]
    }


def rows(studio, data: dict) -> list[dict]:
    """The output table's rows, read from the artifact store by its digest."""
    import pyarrow.parquet as pq

    digest = data["output"]["v"]["digest"]
    return pq.read_table(studio.home / "artifacts" / "cas" / digest[:2] / digest[2:]).to_pylist()


def read_events(studio, run_id: str) -> list[dict]:
    found = studio.ok("audit", "--action", "data.read")
    return [e for e in found if e["resource"].startswith(f"run:{run_id}")]


# --- point 4: queries that name no column run, and are handed only what they need -------------
def test_count_star_runs_where_the_domain_may_not_read_most_columns(studio, flow, tmp_path):
    data = run(studio, flow, "count", "experimentation")
    assert data["state"] == "succeeded", task_of(data, "count").get("error")
    assert rows(studio, data) == [{"n": 3}]
    # handed one column the domain may read (the least classified one): the row count is its
    # dataset-level union, and nothing pii or unclassified was read
    assert schema_of(data) == {"n": {"tag": "internal", "rule": "dataset", "sources": ["t.id"]}}
    assert read_events(studio, data["id"]) == []  # internal: not worth an audit event


def test_count_with_a_filter_is_handed_the_filter_column(studio, flow, tmp_path):
    data = run(studio, flow, "count_where", "experimentation")
    assert data["state"] == "succeeded", task_of(data, "count_where").get("error")
    assert rows(studio, data) == [{"n": 2}]
    assert schema_of(data)["n"]["sources"] == ["t.amount"]
    (event,) = read_events(studio, data["id"])
    assert event["details"]["columns"] == {"amount": "confidential+financial"}


def test_exclude_and_columns_are_handed_exactly_their_columns(studio, flow, tmp_path):
    data = run(studio, flow, "exclude", "experimentation")
    assert data["state"] == "succeeded", task_of(data, "exclude").get("error")
    assert schema_of(data) == {
        "id": {"tag": "internal", "rule": "identity", "sources": ["t.id"]},
        "amount": {"tag": "confidential+financial", "rule": "identity", "sources": ["t.amount"]},
    }

    data = run(studio, flow, "columns_regex", "experimentation")
    assert data["state"] == "succeeded", task_of(data, "columns_regex").get("error")
    assert [r["id"] for r in rows(studio, data)] == [1, 2, 3]
    assert schema_of(data) == {
        "id": {"tag": "internal", "rule": "identity", "sources": ["t.id"]},
        "amount": {"tag": "confidential+financial", "rule": "identity", "sources": ["t.amount"]},
    }

    data = run(studio, flow, "columns_list", "experimentation")
    assert data["state"] == "succeeded", task_of(data, "columns_list").get("error")
    assert rows(studio, data) == [{"id": 3, "amount": 20.0}]
    assert schema_of(data)["amount"] == {
        "tag": "confidential+financial",
        "rule": "aggregation",
        "sources": ["t.amount"],
    }


def test_positional_references_count_in_the_whole_column_list(studio, flow, tmp_path):
    """#3 is amount of the dataset's (id, email, amount, region): the task is handed id and
    amount, the other columns are there as NULLs, so the positions do not shift."""
    data = run(studio, flow, "positional", "experimentation")
    assert data["state"] == "succeeded", task_of(data, "positional").get("error")
    assert rows(studio, data) == [
        {"total": 10.5, "id": 1},
        {"total": 20.0, "id": 2},
        {"total": 7.25, "id": 3},
    ]
    assert schema_of(data) == {
        "total": {"tag": "confidential+financial", "rule": "identity", "sources": ["t.amount"]},
        "id": {"tag": "internal", "rule": "identity", "sources": ["t.id"]},
    }


# --- point 3: set operations by name ------------------------------------------------------------
def test_union_all_by_name_pairs_columns_by_name(studio, flow, tmp_path):
    data = run(studio, flow, "by_name", "production")
    assert data["state"] == "succeeded", task_of(data, "by_name").get("error")
    values = rows(studio, data)
    assert {r["id"] for r in values} >= {"a@x.com", "1"}  # the emails are in column id
    schema = schema_of(data)
    assert list(schema) == ["amount", "id"]
    assert schema["id"]["tag"] == "confidential+pii"
    assert sorted(schema["id"]["sources"]) == ["t.email", "t.id"]
    assert schema["amount"] == {
        "tag": "confidential+financial",
        "rule": "identity",
        "sources": ["t.amount"],
    }
