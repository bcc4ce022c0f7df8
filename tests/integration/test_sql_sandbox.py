"""SQL tasks see only the tables handed to them, through real runs on SQLite and on Postgres.

A steward imports a governed dataset (email is confidential+pii); a user cleared for nothing
but running in experimentation writes SQL tasks that reach for files, URLs, extensions,
other databases and DuckDB's settings. Each run must fail with a one-line refusal, store no
output, and leave the file system as it was. The issue's exact leak (``read_parquet`` of the
dataset's blob in the artifact store, declared ``classify={"*": "public"}``) is the first case.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlstudio.testing.flows import task_of

CSV = "id,email,amount\n1,a@x.com,10.5\n2,b@y.com,20.0\n3,c@z.com,7.25\n"

# (case id, SQL with {dir} and {blob} placeholders, a phrase the refusal must contain)
REFUSED = [
    ("blob_read_parquet", "SELECT * FROM read_parquet('{blob}')", "may read only the tables"),
    ("parquet_scan", "SELECT * FROM parquet_scan('{dir}/plain.parquet')", "only the tables"),
    ("replacement_scan", "SELECT * FROM '{dir}/plain.parquet'", "may read only the tables"),
    ("read_csv", "SELECT * FROM read_csv('{dir}/plain.csv')", "may read only the tables"),
    ("read_csv_auto", "SELECT * FROM read_csv_auto('{dir}/plain.csv')", "only the tables"),
    ("read_json", "SELECT * FROM read_json('{dir}/plain.json')", "may read only the tables"),
    ("read_text", "SELECT * FROM read_text('{dir}/plain.csv')", "may read only the tables"),
    ("read_blob", "SELECT * FROM read_blob('{dir}/plain.csv')", "may read only the tables"),
    ("glob", "SELECT * FROM glob('{dir}/*')", "may read only the tables"),
    ("sqlite_scan", "SELECT * FROM sqlite_scan('{dir}/other.db', 'secrets')", "extensions"),
    ("attach", "ATTACH '{dir}/attached.db' AS other", "not run ATTACH"),
    ("copy_to", "COPY (SELECT 1 AS a) TO '{dir}/copied.csv'", "not run COPY"),
    ("export_database", "EXPORT DATABASE '{dir}/exported'", "not run EXPORT"),
    ("install", "INSTALL httpfs", "not run LOAD"),
    ("load", "LOAD httpfs", "not run LOAD"),
    ("https_url", "SELECT * FROM read_csv('https://example.com/a.csv')", "only the tables"),
    ("http_url", "SELECT * FROM 'http://example.com/a.parquet'", "may read only the tables"),
    ("create_secret", "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'x')", "not run CREATE"),
    ("set_external_access", "SET enable_external_access = true", "not run SET"),
    ("pragma", "PRAGMA database_list", "not run PRAGMA"),
    ("multi_statement", "SELECT 1 AS a; COPY (SELECT 1) TO '{dir}/second.csv'", "one statement"),
]


def write_flow(folder: Path, blob: Path, files: Path) -> Path:
    """One workflow per refused case (``case_<id>``), each a single SQL task with no input and
    ``classify={'*': 'public'}``, plus a control reading the dataset through ``dataset(...)``."""
    lines = [
        "from mlstudio import dataset, sql_task, workflow",
        "",
        "count = sql_task('count', 'SELECT count(*) AS n FROM t')",
        "",
        "@workflow",
        "def control():",
        "    return count(t=dataset('shop/customers'))",
        "",
    ]
    for case, sql, _ in REFUSED:
        query = sql.format(dir=files, blob=blob)
        lines += [
            f"{case} = sql_task({case!r}, {query!r}, classify={{'*': 'public'}})",
            "",
            "@workflow",
            f"def case_{case}():",
            f"    return {case}()",
            "",
        ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "flow.py"
    path.write_text("\n".join(lines))
    return path


@pytest.fixture
def governed(studio, tmp_path: Path) -> dict:
    """shop/customers@1 (email confidential+pii), its blob's path in the artifact store, files
    a query could reach for, and bob: a runner in experimentation with no other right."""
    studio.ok("namespace", "create", "shop")
    csv = tmp_path / "customers.csv"
    csv.write_text(CSV)
    imported = studio.ok(
        "data", "import", csv, "--name", "shop/customers",
        "--classify", "email=confidential+pii",
        "--classify", "amount=internal",
        "--classify", "id=internal",
    )  # fmt: skip
    blobs = [p for p in (studio.home / "artifacts" / "cas").rglob("*") if p.is_file()]
    (blob,) = [p for p in blobs if _is_parquet_with_email(p)]
    files = tmp_path / "files"
    files.mkdir()
    pq.write_table(pa.table({"email": ["leak@x.com"]}), files / "plain.parquet")
    (files / "plain.csv").write_text("email\nleak@x.com\n")
    (files / "plain.json").write_text('[{"email": "leak@x.com"}]')
    with sqlite3.connect(files / "other.db") as db:
        db.execute("CREATE TABLE secrets (email TEXT)")
        db.execute("INSERT INTO secrets VALUES ('leak@x.com')")
    studio.ok("user", "add", "bob")
    studio.ok("user", "grant", "bob", "runner", "--domain", "experimentation")
    flow = write_flow(tmp_path / "wf", blob, files)
    return {"dataset": imported, "blob": blob, "files": files, "flow": flow}


def _is_parquet_with_email(path: Path) -> bool:
    try:
        return "email" in pq.read_schema(path).names
    except Exception:
        return False


def run_as(studio, user: str, flow: Path, workflow: str) -> dict:
    result = studio.cli(
        "run", f"{flow}:{workflow}", "--domain", "experimentation", "--json", user=user
    )
    data = result.json
    assert result.code == (0 if data["state"] == "succeeded" else 1), result.stderr
    return data


@pytest.mark.parametrize(("case", "sql", "phrase"), REFUSED, ids=[c for c, _, _ in REFUSED])
def test_a_sql_task_cannot_reach_past_its_input_tables(studio, governed, case, sql, phrase):
    files: Path = governed["files"]
    before = sorted(p.name for p in files.iterdir())
    data = run_as(studio, "bob", governed["flow"], f"case_{case}")
    assert data["state"] == "failed"
    task = task_of(data, case)
    assert task["state"] == "failed"
    error = task["error"]
    assert phrase in error, error
    assert "\n" not in error and "leak@x.com" not in error and "a@x.com" not in error
    assert data.get("output") is None
    # nothing was written next to the files (COPY, ATTACH, EXPORT create files when they run)
    assert sorted(p.name for p in files.iterdir()) == before


def test_the_same_dataset_through_its_input_is_governed(studio, governed):
    """The control: the dataset handed as an input is checked and classified as usual."""
    data = run_as(studio, "bob", governed["flow"], "control")
    assert data["state"] == "succeeded", data
    (column,) = data["output"]["v"]["schema"]
    assert column["name"] == "n" and column["provenance"]["rule"] == "dataset"


@pytest.fixture
def ray_session():
    import ray

    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("studio", ["sqlite"], indirect=True)
def test_the_sandbox_holds_on_ray_workers_too(studio, governed, ray_session):
    """The same runtime runs a Ray task: the blob read is refused there as well."""
    result = studio.cli(
        "run", f"{governed['flow']}:case_blob_read_parquet",
        "--domain", "experimentation", "--executor", "ray", "--json", user="bob",
    )  # fmt: skip
    data = result.json
    assert data["state"] == "failed" and data["executor"] == "ray"
    error = task_of(data, "blob_read_parquet")["error"]
    assert "may read only the tables" in error and "a@x.com" not in error
    control = studio.cli(
        "run", f"{governed['flow']}:control", "--domain", "experimentation",
        "--executor", "ray", "--json", user="bob",
    )  # fmt: skip
    assert control.json["state"] == "succeeded", control.stderr
