"""``run_sql``: a query sees only the tables it is handed (real DuckDB, real files)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlstudio.data.dataset import Dataset
from mlstudio.data.sql import run_sql
from mlstudio.errors import InvalidInputError, MlstudioError, PolicyViolationError

T = pa.table({"id": [1, 2, 3], "email": ["a@x.com", "b@y.com", "c@z.com"]})
SECRET = "leak@secret.example"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """Files with a secret in every format DuckDB can read."""
    pq.write_table(pa.table({"email": [SECRET]}), tmp_path / "secret.parquet")
    (tmp_path / "secret.csv").write_text(f"email\n{SECRET}\n")
    (tmp_path / "secret.json").write_text(f'[{{"email": "{SECRET}"}}]')
    with sqlite3.connect(tmp_path / "secret.db") as db:
        db.execute("CREATE TABLE s (email TEXT)")
        db.execute("INSERT INTO s VALUES (?)", (SECRET,))
    return tmp_path


FILE_READS = [
    "SELECT * FROM read_parquet('{d}/secret.parquet')",
    "SELECT * FROM read_parquet(['{d}/secret.parquet'])",
    "SELECT * FROM parquet_scan('{d}/secret.parquet')",
    "SELECT * FROM parquet_metadata('{d}/secret.parquet')",
    "SELECT * FROM '{d}/secret.parquet'",
    "SELECT * FROM '{d}/secret.csv'",
    "SELECT * FROM read_csv('{d}/secret.csv')",
    "SELECT * FROM read_csv_auto('{d}/secret.csv')",
    "SELECT * FROM read_json('{d}/secret.json')",
    "SELECT * FROM read_json_auto('{d}/secret.json')",
    "SELECT * FROM read_ndjson_objects('{d}/secret.json')",
    "SELECT * FROM read_text('{d}/secret.csv')",
    "SELECT * FROM read_blob('{d}/secret.csv')",
    "SELECT * FROM glob('{d}/*')",
    "SELECT * FROM read_csv('https://example.com/secret.csv')",
    "SELECT * FROM 'http://example.com/secret.parquet'",
    "SELECT * FROM read_parquet('s3://bucket/secret.parquet')",
    "SELECT t.id, s.email FROM t JOIN read_csv('{d}/secret.csv') AS s ON true",
    "WITH x AS (SELECT * FROM read_text('{d}/secret.csv')) SELECT * FROM x",
    "SELECT (SELECT content FROM read_text('{d}/secret.csv')) AS c",
]

EXTENSIONS = [
    "SELECT * FROM sqlite_scan('{d}/secret.db', 's')",
    "SELECT * FROM iceberg_scan('{d}/x')",
    "SELECT * FROM read_xlsx('{d}/x.xlsx')",
]

STATEMENTS = [
    ("ATTACH '{d}/secret.db' AS other (TYPE sqlite)", "ATTACH"),
    ("ATTACH '{d}/new.duckdb'", "ATTACH"),
    ("COPY t TO '{d}/out.csv'", "COPY"),
    ("COPY (SELECT * FROM t) TO '{d}/out.parquet' (FORMAT parquet)", "COPY"),
    ("EXPORT DATABASE '{d}/exported'", "EXPORT"),
    ("IMPORT DATABASE '{d}/exported'", None),
    ("INSTALL httpfs", "LOAD"),
    ("LOAD httpfs", "LOAD"),
    ("FORCE INSTALL sqlite", "LOAD"),
    ("CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'x')", "CREATE"),
    ("CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'k', SECRET 'x')", "CREATE"),
    ("CREATE TABLE x AS SELECT * FROM t", "CREATE"),
    ("SET enable_external_access = true", "SET"),
    ("SET lock_configuration = false", "SET"),
    ("RESET enable_external_access", None),
    ("PRAGMA database_list", "PRAGMA"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("CALL pragma_version()", "CALL"),
    ("EXPLAIN SELECT * FROM t", "EXPLAIN"),
    ("DETACH memory", "DETACH"),
    ("INSERT INTO t VALUES (4, 'd')", "INSERT"),
    ("USE memory", "SET"),
]


@pytest.mark.parametrize("sql", FILE_READS)
def test_files_and_urls_are_refused(files, sql):
    with pytest.raises(PolicyViolationError) as caught:
        run_sql(sql.format(d=files), {"t": T})
    message = caught.value.one_line()
    assert message.startswith("SQL tasks may read only the tables they are handed")
    assert "\n" not in message and SECRET not in message


@pytest.mark.parametrize("sql", EXTENSIONS)
def test_extensions_are_neither_installed_nor_autoloaded(files, sql):
    with pytest.raises(PolicyViolationError, match="cannot use DuckDB extensions"):
        run_sql(sql.format(d=files), {"t": T})


@pytest.mark.parametrize(("sql", "kind"), STATEMENTS)
def test_statements_other_than_one_select_are_refused_before_they_run(files, sql, kind):
    before = sorted(p.name for p in files.iterdir())
    with pytest.raises(MlstudioError) as caught:
        run_sql(sql.format(d=files), {"t": T})
    message = caught.value.one_line()
    assert "\n" not in message
    if kind is not None:
        assert isinstance(caught.value, PolicyViolationError)
        assert f"not run {kind} statements" in message
    assert sorted(p.name for p in files.iterdir()) == before


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 AS a; SELECT 2 AS b",
        "SELECT * FROM t; COPY t TO '{d}/second.csv'",
        "SELECT * FROM t; SET enable_external_access = true",
        "SELECT 1;\n-- a comment\nSELECT 2",
    ],
)
def test_several_statements_are_refused_and_none_runs(files, sql):
    with pytest.raises(InvalidInputError, match=r"run one statement; got 2 statements"):
        run_sql(sql.format(d=files), {"t": T})
    assert not (files / "second.csv").exists()


def test_a_query_cannot_name_a_python_variable_of_its_caller():
    secret_frame_table = pa.table({"email": [SECRET]})  # DuckDB's replacement scan would find it
    assert secret_frame_table.num_rows == 1
    with pytest.raises(InvalidInputError, match="secret_frame_table does not exist"):
        run_sql("SELECT * FROM secret_frame_table", {"t": T})


def test_the_settings_are_locked_even_through_query_functions():
    out = run_sql(
        "SELECT current_setting('enable_external_access') AS external, "
        "current_setting('lock_configuration') AS locked, "
        "current_setting('autoload_known_extensions') AS autoload, "
        "current_setting('autoinstall_known_extensions') AS autoinstall, "
        "current_setting('allow_community_extensions') AS community, "
        "current_setting('python_enable_replacements') AS replacements",
        {},
    ).to_arrow()
    assert out.to_pylist() == [
        {
            "external": False,
            "locked": True,
            "autoload": False,
            "autoinstall": False,
            "community": False,
            "replacements": False,
        }
    ]
    with pytest.raises(InvalidInputError):
        run_sql("SELECT * FROM query('SET enable_external_access = true')", {})


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT count(*) AS n FROM t", [{"n": 3}]),
        ("SELECT id FROM t WHERE id > 1 ORDER BY id;", [{"id": 2}, {"id": 3}]),
        ("WITH x AS (SELECT id FROM t) SELECT max(id) AS m FROM x", [{"m": 3}]),
        ("SELECT id FROM t WHERE id = 1 UNION ALL SELECT 9", [{"id": 1}, {"id": 9}]),
        ("FROM t SELECT id WHERE id = 3", [{"id": 3}]),
        ("VALUES (1)", [{"col0": 1}]),
        (
            "SELECT * FROM (PIVOT (SELECT id FROM t) ON id USING count(*))",
            [{"1": 1, "2": 1, "3": 1}],
        ),
        ("SELECT column_name FROM (DESCRIBE t)", [{"column_name": "id"}, {"column_name": "email"}]),
    ],
)
def test_queries_over_the_handed_tables_still_run(sql, rows):
    assert run_sql(sql, {"t": Dataset(T)}).to_arrow().to_pylist() == rows


def test_a_dynamic_pivot_runs():
    out = run_sql("PIVOT (SELECT id FROM t) ON id USING count(*)", {"t": T}).to_arrow()
    assert out.to_pylist() == [{"1": 1, "2": 1, "3": 1}]


def test_dataset_sql_in_python_tasks_is_sandboxed_too(files):
    with pytest.raises(PolicyViolationError):
        Dataset(T).sql(f"SELECT * FROM read_csv('{files}/secret.csv')")
    assert Dataset(T).sql("SELECT count(*) AS n FROM data").to_arrow().to_pylist() == [{"n": 3}]


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment", ";"])
def test_empty_sql_is_refused(sql):
    with pytest.raises(InvalidInputError):
        run_sql(sql, {"t": T})
